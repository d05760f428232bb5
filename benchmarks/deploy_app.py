"""The app of a rolling deploy: a FastAPI chat-like echo, raw and behind the guard with a drain.

Written as the README tells users to write it. ``raw`` is the app alone (a deploy is a
``SIGTERM``); ``guarded`` adds the guard with a :class:`Drain`, the ``/drain`` endpoint a
Kubernetes ``preStop`` hook calls, and ``/ready``, the readiness probe the load balancer checks.
Each instance names itself (``DEPLOY_INSTANCE``) in its first message, so a client knows which
instance it reached through the load balancer.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Response, WebSocket, WebSocketDisconnect

from asgi_closeguard import CloseGuardMiddleware, Drain

__all__ = ["guarded", "raw"]

INSTANCE = os.environ.get("DEPLOY_INSTANCE", "?")


def make_app(*, guarded: bool) -> FastAPI:
    app = FastAPI()
    drain = Drain()
    if guarded:
        app.add_middleware(CloseGuardMiddleware, drain=drain)

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(INSTANCE)
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    @app.post("/drain")
    async def start_drain(spread: float = 10.0) -> dict[str, int]:
        await drain.start(spread=spread)
        return {"open": drain.open_connections}

    @app.get("/ready")
    async def ready() -> Response:
        return Response(status_code=503 if drain.draining else 200)

    return app


raw = make_app(guarded=False)
guarded = make_app(guarded=True)
