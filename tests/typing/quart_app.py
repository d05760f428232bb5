"""Quart: the extension, guard(app) served by hypercorn, and the plain middleware."""

from __future__ import annotations

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, websocket

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard.frameworks.quart import CloseGuard, guard

app = Quart(__name__)
CloseGuard(app, exception_codes={TimeoutError: (1013, "try later")})

later = CloseGuard(strict=True)
later.init_app(Quart(__name__))


@app.websocket("/rooms/<room>")
async def room(room: str) -> None:
    await websocket.accept()
    await websocket.send(room)


async def main() -> None:
    await serve(guard(Quart(__name__), close_timeout=2.0), Config())
    # The plain middleware fits hypercorn's serve() wherever the app it wraps does.
    await serve(CloseGuardMiddleware(Quart(__name__)), Config())


wrapped = CloseGuardMiddleware(Quart(__name__), expose_exception_text=False)
