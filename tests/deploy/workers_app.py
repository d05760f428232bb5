"""The drain recipe of docs/deploying.md for several workers (``uvicorn --workers N``,
``gunicorn -w N``), as the page shows it: each worker is a process with its own connections and
its own ``Drain``, so each starts its own drain when it gets ``SIGUSR1``.

The first message of every connection is the worker's PID, so the tests know which worker each
client reached. ``DRAIN_SPREAD`` sets the spread (10 s by default).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response, WebSocket, WebSocketDisconnect

from asgi_closeguard import CloseGuardMiddleware, Drain

drain = Drain()
SPREAD = float(os.environ.get("DRAIN_SPREAD", "10"))
_draining: set[asyncio.Task[None]] = set()


def start_draining() -> None:
    task = asyncio.ensure_future(drain.start(spread=SPREAD))
    _draining.add(task)  # the loop keeps only a weak reference to a task
    task.add_done_callback(_draining.discard)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Runs in every worker: SIGUSR1 starts this worker's drain.
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, start_draining)
    yield


app = FastAPI(lifespan=lifespan)
app.add_middleware(CloseGuardMiddleware, drain=drain)


@app.get("/ready")
async def ready() -> Response:
    return Response(status_code=503 if drain.draining else 200)


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(str(os.getpid()))
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
