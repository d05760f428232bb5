"""Quart behind the guard: the ``got_websocket_exception`` signal hands the exception to it.

>>> from asgi_closeguard.frameworks.quart import guard
>>> asgi_app = guard(app)  # doctest: +SKIP

or, as an extension, with the Quart app served as it is::

    CloseGuard(app)

Quart logs a WebSocket handler's exception, swallows it and closes with 1000, so a crash looks
like a normal closure (before accept it answers 500 itself). Quart sends
``got_websocket_exception`` before it logs or closes; the adapter's receiver hands the exception
to the guard there: the client gets 1011 (or the mapped code), an HTTP 500 before accept, and
the record names the exception. The traceback is logged once, by the server, as for any app
behind the guard.

Only unhandled WebSocket exceptions take that path. HTTP requests, ``abort()`` and every
``HTTPException``, and exceptions that an ``errorhandler`` of the app handles, are answered by
Quart exactly as before (``abort(403)`` after accept still closes with Quart's 1000).

Needs Quart: ``pip install quart``. Importing this module does not import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._middleware import CloseGuardMiddleware
from ._relay import escape, guarded, require

if TYPE_CHECKING:
    from quart import Quart

__all__ = ["CloseGuard", "guard"]


def guard(app: Quart, **options: Any) -> CloseGuardMiddleware:
    """Return ``app`` behind ``CloseGuardMiddleware``, with Quart's signal wired.

    ``options`` are ``CloseGuardMiddleware``'s keyword options. Serve the returned app.
    """
    _connect(app)
    return guarded(app, options)


class CloseGuard:
    """Quart's extension idiom: ``CloseGuard(app, **options)``, or ``init_app`` later.

    Wraps ``app.asgi_app``, as Quart's docs do for ASGI middleware, so the Quart app itself
    stays the object to serve.
    """

    def __init__(self, app: Quart | None = None, **options: Any) -> None:
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        """Wire the signal and put the guard around ``app.asgi_app``."""
        _connect(app)
        app.asgi_app = guarded(app.asgi_app, self.options)  # type: ignore[method-assign,assignment]


def _connect(app: Quart) -> None:
    signals = require("quart.signals", "quart")
    # A strong reference: blinker keeps only weak ones by default, and the receiver is a
    # module-level function anyway. Connecting twice is a no-op.
    signals.got_websocket_exception.connect(_got_websocket_exception, sender=app, weak=False)


async def _got_websocket_exception(sender: Quart, *, exception: Exception, **extra: Any) -> None:
    from quart import has_websocket_context, websocket

    if has_websocket_context():
        escape(exception, websocket.scope)
