"""The app the end-to-end benchmark serves: the same echo app, bare and guarded, in one process.

``uvicorn benchmarks.apps:app`` serves the echo app bare on ``/bare`` and behind the guard on
``/guarded``. Both live in the same server process so that they share everything a process
brings with it: identical server processes were seen to differ by up to half in CPU per message,
steadily for their whole life, which would swamp what the guard costs. The path is looked at
once per connection; every message then goes straight to the app (bare) or to the guard.
"""

from __future__ import annotations

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard._types import ASGIApp, Receive, Scope, Send

from ._common import echo_app

#: The echo app on its own.
bare: ASGIApp = echo_app
#: The echo app behind the guard with default options.
guarded: ASGIApp = CloseGuardMiddleware(echo_app)

#: The path each variant is served on.
PATHS = {"bare": "/bare", "guarded": "/guarded"}
_ROUTES: dict[str, ASGIApp] = {PATHS["bare"]: bare, PATHS["guarded"]: guarded}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/guarded``: the guarded echo app; every other path (and lifespan): the bare one."""
    await _ROUTES.get(scope.get("path", ""), bare)(scope, receive, send)
