"""Falcon behind the guard: an error handler for ``Exception`` hands the exception to it.

>>> from asgi_closeguard.frameworks.falcon import guard
>>> asgi_app = guard(app)  # doctest: +SKIP

Serve what ``guard()`` returns: Falcon's app object is its own ASGI callable, so the guard can
only be around it. Served without it, the app keeps Falcon's own behaviour, and the adapter
logs one warning at its first WebSocket connection that says so.

Falcon's default handler for an unhandled WebSocket exception logs it and closes with 1011,
before accept too (which the server answers with 403). The adapter wraps the handler registered
for ``Exception`` (Falcon's default one, or the app's): it marks the exception and calls that
handler, which logs and closes as it would; its close is where the guard takes over: the client
gets 1011 (or the mapped code), an HTTP 500 before accept, and the record names the exception.
The server logs nothing more, as without the guard. HTTP requests go to the wrapped handler
untouched (Falcon's default one: a 500 response).

Falcon's own closes stay Falcon's: an ``HTTPError`` or ``HTTPStatus`` closes with 3000 + its
status (``HTTPForbidden``: 3403), a client that left is handled by Falcon's
``WebSocketDisconnected`` handler, and so is any exception class the app registered its own
handler for. Call ``guard`` after ``add_error_handler(Exception, ...)``, if the app has one:
a handler for ``Exception`` added later replaces the adapter's. A handler for ``Exception``
that does not close leaves the close to the guard: 1000 after accept, as when a handler
returns.

Falcon refuses some codes itself, before anything reaches the guard: ``ws.close()`` raises
``ValueError`` for codes below 1000, 1004-1006 and 1015-1999, so ``close(1006)`` is an
exception in the handler, which the guard closes with 1011.

The record's ``route`` is Falcon's URI template (``/rooms/{room}``), read by a middleware
component the adapter adds (``process_resource_ws``).

Needs Falcon: ``pip install falcon``. Importing this module does not import it.
"""

from __future__ import annotations

import inspect
import logging
import sys
from typing import TYPE_CHECKING, Any

from ._relay import HandBack, guard_around, guarded, mark, note_route, require, wrong_app

if TYPE_CHECKING:
    from falcon.asgi import App, Request, Response, WebSocket

    from .._options import GuardOptions

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = ["guard"]

logger = logging.getLogger("asgi_closeguard")


def guard(app: App[Any, Any], **options: Unpack[GuardOptions]) -> HandBack:
    """Return ``app`` behind ``CloseGuardMiddleware``, with an error handler wired.

    ``options`` are ``CloseGuardMiddleware``'s keyword options, checked now. Serve the
    returned app.
    """
    require("falcon", "falcon")
    import falcon.asgi

    if not isinstance(app, falcon.asgi.App):
        expected = "a falcon.asgi.App (falcon.App is Falcon's WSGI app, without WebSockets)"
        raise wrong_app(app, "falcon", expected)
    guarded_app = guarded(app, options)
    current = app._error_handlers.get(Exception)
    if current is None or not getattr(current, "_closeguard", False):
        app.add_error_handler(Exception, _handler(current or app._python_error_handler))
        app.add_middleware(_RouteAndServing())
    return guarded_app


class _RouteAndServing:
    """A Falcon middleware component: the record's route, and a warning when the app is
    served without the guard that ``guard()`` returned."""

    def __init__(self) -> None:
        self.warned = False

    async def process_resource_ws(
        self, req: Request, ws: WebSocket, resource: object, params: dict[str, Any]
    ) -> None:
        if guard_around(req.scope):
            # Falcon has routed the request: its URI template is set.
            note_route(req.scope, req.uri_template or "")
        elif not self.warned:
            self.warned = True
            logger.warning(
                "this Falcon app was given to asgi_closeguard.frameworks.falcon.guard(), but "
                "it is served without the guard: serve what guard() returned "
                "(asgi_app = guard(app)), not the app itself"
            )


def _handler(previous: Any) -> Any:
    passes_ws = "ws" in inspect.signature(previous).parameters

    async def handle(
        req: Request,
        resp: Response | None,
        ex: Exception,
        params: dict[str, Any],
        ws: WebSocket | None = None,
    ) -> None:
        if ws is not None:
            # The close the handler registered before sends for it is where the guard takes
            # over; the handler itself runs as without the guard (Falcon's logs the exception).
            mark(ex, req.scope)
        if passes_ws:
            await previous(req, resp, ex, params, ws=ws)
        else:
            await previous(req, resp, ex, params)

    handle._closeguard = True  # type: ignore[attr-defined]
    return handle
