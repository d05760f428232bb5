"""BlackSheep behind the guard: its WebSocket route handlers hand their exceptions to it.

>>> from asgi_closeguard.frameworks.blacksheep import guard
>>> asgi_app = guard(app)  # doctest: +SKIP

BlackSheep catches a WebSocket handler's exception, logs it and closes with 1011 and
``str(exc)`` as the reason, so the exception's text reaches the client; before accept it
closes, which the server answers with 403. BlackSheep has no hook for WebSocket errors: once the
app has started (its ``after_start`` event, after BlackSheep has bound each handler's
parameters and applied its middleware), the adapter wraps the handler of every WebSocket route
so that its exception goes to the guard instead: the client gets 1011 (or the mapped code),
never the text, an HTTP 500 before accept, and the record names the exception.

``WebSocketDisconnectError`` (the client left) stays BlackSheep's: the client's close is
already in the record. HTTP is untouched.

Needs BlackSheep: ``pip install blacksheep``. Importing this module does not import it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._middleware import CloseGuardMiddleware
from ._relay import escape, guarded, require

if TYPE_CHECKING:
    from blacksheep import Application, WebSocket

__all__ = ["guard"]

_WEBSOCKET_ROUTES = "GET_WS"


def guard(app: Application, **options: Any) -> CloseGuardMiddleware:
    """Return ``app`` behind ``CloseGuardMiddleware``, with its WebSocket handlers wired.

    ``options`` are ``CloseGuardMiddleware``'s keyword options. Serve the returned app.
    """
    require("blacksheep", "blacksheep")
    guarded_app = guarded(app, options)
    if app.started:
        _wrap_handlers(app)
    else:
        app.after_start += _after_start
    return guarded_app


async def _after_start(app: Application) -> None:
    _wrap_handlers(app)


def _wrap_handlers(app: Application) -> None:
    for method, route in app.router.iter_with_methods():  # type: ignore[no-untyped-call]
        if method == _WEBSOCKET_ROUTES and not getattr(route.handler, "_closeguard", False):
            route.handler = _handing_on(route.handler)


def _handing_on(
    handler: Callable[[WebSocket], Awaitable[None]],
) -> Callable[[WebSocket], Awaitable[None]]:
    from blacksheep.server.websocket import WebSocketDisconnectError

    @functools.wraps(handler)
    async def handle(ws: WebSocket) -> None:
        try:
            await handler(ws)
        except WebSocketDisconnectError:
            raise
        except Exception as exc:
            escape(exc, ws.scope)
            raise

    handle._closeguard = True  # type: ignore[attr-defined]
    return handle
