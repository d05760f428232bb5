"""Small apps for the docs' own server checks: a plain Starlette app, raw and guarded.

``/refused``: the handler accepts, then closes with 1012, which daphne refuses, and does not
catch what daphne raises (as a plain Starlette app does not). ``/refused-caught``: the same, but
the handler catches the exception and waits.
"""

from __future__ import annotations

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgi_closeguard import CloseGuardMiddleware


async def refused(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close(code=1012)


async def refused_caught(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        await websocket.close(code=1012)
    except Exception:  # daphne's refusal: the app goes on
        await anyio.sleep(10)


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


routes = [
    Route("/health", health),
    WebSocketRoute("/refused", refused),
    WebSocketRoute("/refused-caught", refused_caught),
]
app = Starlette(routes=routes)
guarded = CloseGuardMiddleware(Starlette(routes=routes))
