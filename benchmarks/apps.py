"""The app the end-to-end benchmark serves: the same echo app, bare and guarded, in one process.

``uvicorn benchmarks.apps:app`` serves the echo app bare on ``/bare`` and behind the guard on
``/guarded`` (and behind the in-process benchmark's two floor middlewares on ``/floor`` and
``/floor-async``). All live in the same server process so that they share everything a process
brings with it: identical server processes were seen to differ by up to half in CPU per message,
steadily for their whole life, which would swamp what the guard costs. The path is looked at
once per connection; every message then goes straight to the app or its middleware.
"""

from __future__ import annotations

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard._types import ASGIApp, Receive, Scope, Send

from ._common import echo_app
from .inprocess import AsyncSendFloorMiddleware, FloorMiddleware

#: The echo app on its own, and behind each middleware measured.
VARIANTS: dict[str, ASGIApp] = {
    "bare": echo_app,
    "floor": FloorMiddleware(echo_app),
    "floor-async": AsyncSendFloorMiddleware(echo_app),
    "guarded": CloseGuardMiddleware(echo_app),
}

#: The path each variant is served on.
PATHS = {name: f"/{name}" for name in VARIANTS}
_ROUTES: dict[str, ASGIApp] = {PATHS[name]: variant for name, variant in VARIANTS.items()}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Route a WebSocket to its variant by path; every other path (and lifespan): the bare app."""
    await _ROUTES.get(scope.get("path", ""), echo_app)(scope, receive, send)
