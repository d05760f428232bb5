"""One FastAPI app with a route for every way a WebSocket connection can end, and what each
close must be recorded as.

The routes have a path parameter, so a test can check that the raw path (``/rooms/r-42/...``)
never reaches a label or an attribute, only the template (``/rooms/{room}/...``). Exceptions and
close reasons carry :data:`SECRET`, which must never reach a label or an attribute either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, WebSocket
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from asgi_closeguard import CloseGuardMiddleware

SECRET = "token=hunter2"
ROOM = "r-42"


class Boom(Exception):
    """The app's own exception: not mapped, so the guard closes with 1011."""


@dataclass(frozen=True)
class ClosePath:
    """One way a connection ends, and what the guard records for it."""

    name: str
    url: str
    code: int | None
    closed_by: str
    exception: str | None  # the qualified name of the exception the app raised
    route: str | None

    @property
    def guard_closed_for_exception(self) -> bool:
        return self.closed_by == "guard" and self.exception is not None


BOOM = f"{__name__}.Boom"

CLOSE_PATHS = [
    ClosePath("crash", f"/rooms/{ROOM}/crash", 1011, "guard", BOOM, "/rooms/{room}/crash"),
    ClosePath("mapped", f"/rooms/{ROOM}/slow", 1013, "guard", "TimeoutError", "/rooms/{room}/slow"),
    ClosePath("app-close", f"/rooms/{ROOM}/kick", 4000, "app", None, "/rooms/{room}/kick"),
    ClosePath("client-close", f"/rooms/{ROOM}/echo", 1001, "client", None, "/rooms/{room}/echo"),
    ClosePath("refused", f"/rooms/{ROOM}/refuse", None, "app", None, "/rooms/{room}/refuse"),
    ClosePath("returned", f"/rooms/{ROOM}/return", 1000, "guard", None, "/rooms/{room}/return"),
    ClosePath(
        "crash-before-accept", f"/rooms/{ROOM}/early", None, "guard", BOOM, "/rooms/{room}/early"
    ),
    ClosePath("no-route", f"/nowhere/{ROOM}", None, "app", None, None),
]  # fmt: skip

PATHS_BY_NAME = {path.name: path for path in CLOSE_PATHS}


def close_paths_app(
    on_close: Callable[..., Any] | Sequence[Callable[..., Any]],
    *,
    reraise: bool = True,
    **fastapi_options: Any,
) -> FastAPI:
    """A FastAPI app, guarded, with one route per close path."""
    app = FastAPI(**fastapi_options)
    app.add_middleware(
        CloseGuardMiddleware,
        exception_codes={TimeoutError: 1013},
        on_close=on_close,
        reraise=reraise,
    )

    @app.websocket("/rooms/{room}/crash")
    async def crash(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        raise Boom(SECRET)

    @app.websocket("/rooms/{room}/slow")
    async def slow(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        raise TimeoutError(SECRET)

    @app.websocket("/rooms/{room}/kick")
    async def kick(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.close(4000, f"kicked: {SECRET}")

    @app.websocket("/rooms/{room}/echo")
    async def echo(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        while True:
            await websocket.send_text(await websocket.receive_text())

    @app.websocket("/rooms/{room}/refuse")
    async def refuse(websocket: WebSocket, room: str) -> None:
        await websocket.close(1008, SECRET)

    @app.websocket("/rooms/{room}/return")
    async def return_(websocket: WebSocket, room: str) -> None:
        await websocket.accept()

    @app.websocket("/rooms/{room}/early")
    async def early(websocket: WebSocket, room: str) -> None:
        raise Boom(SECRET)

    return app


def connect(client: TestClient, path: ClosePath) -> None:
    """Play the client's part of ``path`` to its end, whatever escapes the app."""
    # The guard re-raises (by default), so TestClient hands the app's exception to the test;
    # a refused handshake is a WebSocketDisconnect on connect.
    with contextlib.suppress(Boom, TimeoutError, WebSocketDisconnect):  # noqa: SIM117
        with client.websocket_connect(path.url) as websocket:
            if path.name == "client-close":
                websocket.send_text("hello")
                assert websocket.receive_text() == "hello"
                websocket.close(1001)
            else:
                message = websocket.receive()
                assert message["type"] == "websocket.close", message
