"""The apps the PromQL tests serve on real servers: a snippet of ``docs/observability.md``, run
as it stands, plus one route for each way a connection ends in the scripted run.

``tests.integrations.promql_app:app`` is the page's Prometheus snippet (one process);
``tests.integrations.multiprocess_app:app`` is its snippet for several workers.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import FastAPI, WebSocket
from starlette.responses import PlainTextResponse

from tests.integrations.observability_docs import DOC, block_containing

#: How long a connection of the ``hold`` route lasts: inside the (1 s, 5 s] bucket.
HOLD_SECONDS = 1.2


class Boom(Exception):
    """The app's own exception: not mapped, so the guard closes with 1011."""


def from_the_page(*fragments: str) -> FastAPI:
    """Run the page's Python block that holds ``fragments``; its ``app``, with the routes."""
    namespace: dict[str, Any] = {"__name__": "observability_snippet"}
    exec(compile(block_containing("python", *fragments), str(DOC), "exec"), namespace)
    app: FastAPI = namespace["app"]
    add_routes(app)
    return app


def add_routes(app: FastAPI) -> None:
    """One route per way a connection ends; the path parameter is never a label."""

    @app.get("/health")
    async def health() -> PlainTextResponse:
        return PlainTextResponse(str(os.getpid()))

    @app.websocket("/rooms/{room}/echo")
    async def echo(websocket: WebSocket, room: str) -> None:
        # Echoes until the client leaves; "pid" answers with the worker's PID, "fail" raises.
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            if text == "fail":
                raise ValueError("the client asked for it")
            await websocket.send_text(str(os.getpid()) if text == "pid" else text)

    @app.websocket("/rooms/{room}/crash")
    async def crash(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        raise Boom("after accept")

    @app.websocket("/rooms/{room}/kick")
    async def kick(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.close(4000, "kicked")

    @app.websocket("/rooms/{room}/refuse")
    async def refuse(websocket: WebSocket, room: str) -> None:
        await websocket.close(1008)  # before accept: HTTP 403

    @app.websocket("/rooms/{room}/early")
    async def early(websocket: WebSocket, room: str) -> None:
        raise Boom("before accept")  # HTTP 500

    @app.websocket("/rooms/{room}/hold")
    async def hold(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await asyncio.sleep(HOLD_SECONDS)
        await websocket.close(1000)
