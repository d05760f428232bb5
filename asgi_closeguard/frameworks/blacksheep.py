"""BlackSheep behind the guard: its WebSocket route handlers hand their exceptions to it.

>>> from asgi_closeguard.frameworks.blacksheep import guard
>>> asgi_app = guard(app)  # doctest: +SKIP

Serve what ``guard()`` returns: BlackSheep's app object is its own ASGI callable, so the guard
can only be around it. Served without it, the app keeps BlackSheep's own behaviour, and the
adapter logs one warning at its first WebSocket connection that says so.

BlackSheep catches a WebSocket handler's exception, logs it and closes with 1011 and
``str(exc)`` as the reason, so the exception's text reaches the client; before accept it
closes, which the server answers with 403. BlackSheep has no hook for WebSocket errors: once the
app has started (its ``after_start`` event, after BlackSheep has bound each handler's
parameters and applied its middleware), the adapter wraps the handler of every WebSocket route
so that it marks its exception; BlackSheep then logs it as it would, and its close is where the
guard takes over: the client gets 1011 (or the mapped code), never the text, an HTTP 500 before
accept, and the record names the exception. The server logs nothing more, as without the guard.

``WebSocketDisconnectError`` (the client left) stays BlackSheep's: the client's close is
already in the record. HTTP is untouched. The record's ``route`` is the route's pattern as the
app wrote it (``/rooms/{room}``).

Needs BlackSheep: ``pip install blacksheep``. Importing this module does not import it.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ._relay import HandBack, guard_around, guarded, mark, note_route, require, wrong_app

if TYPE_CHECKING:
    from blacksheep import Application, WebSocket

    from .._options import GuardOptions

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = ["guard"]

logger = logging.getLogger("asgi_closeguard")

_WEBSOCKET_ROUTES = "GET_WS"


def guard(app: Application, **options: Unpack[GuardOptions]) -> HandBack:
    """Return ``app`` behind ``CloseGuardMiddleware``, with its WebSocket handlers wired.

    ``options`` are ``CloseGuardMiddleware``'s keyword options, checked now. Serve the
    returned app.
    """
    require("blacksheep", "blacksheep")
    from blacksheep import Application

    if not isinstance(app, Application):
        raise wrong_app(app, "blacksheep", "a BlackSheep Application")
    guarded_app = guarded(app, options)
    if app.started:
        _wrap_handlers(app)
    else:
        app.after_start += _after_start
    return guarded_app


async def _after_start(app: Application) -> None:
    _wrap_handlers(app)


def _wrap_handlers(app: Application) -> None:
    served_bare = _ServedBare()
    for method, route in app.router.iter_with_methods():  # type: ignore[no-untyped-call]
        if method == _WEBSOCKET_ROUTES and not getattr(route.handler, "_closeguard", False):
            pattern = route.pattern.decode("utf-8", "replace")
            route.handler = _handing_on(route.handler, pattern, served_bare)


class _ServedBare:
    """Warns once when the app's WebSocket connections come without the guard around them."""

    def __init__(self) -> None:
        self.warned = False

    def warn(self) -> None:
        if not self.warned:
            self.warned = True
            logger.warning(
                "this BlackSheep app was given to asgi_closeguard.frameworks.blacksheep.guard(), "
                "but it is served without the guard: serve what guard() returned "
                "(asgi_app = guard(app)), not the app itself"
            )


def _handing_on(
    handler: Callable[[WebSocket], Awaitable[None]], pattern: str, served_bare: _ServedBare
) -> Callable[[WebSocket], Awaitable[None]]:
    from blacksheep.server.websocket import WebSocketDisconnectError

    @functools.wraps(handler)
    async def handle(ws: WebSocket) -> None:
        if guard_around(ws.scope):
            note_route(ws.scope, pattern)
        else:
            served_bare.warn()
        try:
            await handler(ws)
        except WebSocketDisconnectError:
            raise
        except Exception as exc:
            # BlackSheep logs it and closes: that close is where the guard takes over.
            mark(exc, ws.scope)
            raise

    handle._closeguard = True  # type: ignore[attr-defined]
    return handle
