"""Quart behind the guard, as an extension::

    from asgi_closeguard.frameworks.quart import CloseGuard

    app = Quart(__name__)
    CloseGuard(app)  # or: guard = CloseGuard(); guard.init_app(app)

with the Quart app served as Quart serves it (``quart run``, ``hypercorn app:app``).
``guard(app)`` is the same in one call, and returns ``app``.

Quart logs a WebSocket handler's exception, swallows it and closes with 1000, so a crash looks
like a normal closure (before accept it answers 500 itself). Quart sends
``got_websocket_exception`` before it logs or closes; the adapter's receiver marks the exception
there, and raises nothing: every receiver runs, Quart logs its "Exception on websocket" line as
it would, and the close (or the 500) Quart then sends is where the guard takes over: the client
gets 1011 (or the mapped code), an HTTP 500 before accept, and the record names the exception.
The server logs nothing more, as without the guard; Quart's test client gets the guard's close
(``WebsocketDisconnectError`` with 1011). With ``PROPAGATE_EXCEPTIONS`` (Quart's testing and
debug modes) Quart re-raises the exception itself, and the guard handles it as for any app.

Only unhandled WebSocket exceptions take that path. HTTP requests, ``abort()`` and every
``HTTPException``, and exceptions that an ``errorhandler`` of the app handles, are answered by
Quart exactly as before (``abort(403)`` after accept still closes with Quart's 1000).

The record's ``route`` is Quart's URL rule (``/rooms/<room>``), read when Quart sends
``websocket_started``.

Needs Quart: ``pip install quart``. Importing this module does not import it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ._relay import check_options, guarded, mark, note_route, require, wrong_app

if TYPE_CHECKING:
    from quart import Quart

    from .._options import GuardOptions

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = ["CloseGuard", "guard"]


def guard(app: Quart, **options: Unpack[GuardOptions]) -> Quart:
    """Put the guard around ``app.asgi_app``, wire Quart's signals, and return ``app`` itself.

    ``CloseGuard(app, **options)`` in one call: the Quart app stays the object to serve.
    ``options`` are ``CloseGuardMiddleware``'s keyword options, checked now.
    """
    CloseGuard(app, **options)
    return app


class CloseGuard:
    """Quart's extension idiom: ``CloseGuard(app, **options)``, or ``init_app`` later.

    Wraps ``app.asgi_app``, as Quart's docs do for ASGI middleware, so the Quart app itself
    stays the object to serve. ``options`` are ``CloseGuardMiddleware``'s keyword options,
    checked now.
    """

    def __init__(self, app: Quart | None = None, **options: Unpack[GuardOptions]) -> None:
        require("quart", "quart")
        check_options(options)
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        """Wire the signals and put the guard around ``app.asgi_app``."""
        signals = require("quart.signals", "quart")
        from quart import Quart

        if not isinstance(app, Quart):
            raise wrong_app(app, "quart", "a Quart app")
        # Strong references: blinker keeps only weak ones by default, and the receivers are
        # module-level functions anyway. Connecting twice is a no-op.
        signals.got_websocket_exception.connect(_got_websocket_exception, sender=app, weak=False)
        signals.websocket_started.connect(_websocket_started, sender=app, weak=False)
        app.asgi_app = guarded(app.asgi_app, self.options)  # type: ignore[method-assign]
        app.extensions["asgi_closeguard"] = self


async def _got_websocket_exception(sender: Quart, *, exception: Exception, **extra: Any) -> None:
    from quart import has_websocket_context, websocket

    if has_websocket_context():
        # Every receiver runs, and Quart logs it as it would: the close (or the 500) Quart
        # answers it with next is where the guard takes over.
        mark(exception, websocket.scope)


async def _websocket_started(sender: Quart, **extra: Any) -> None:
    from quart import websocket

    rule = websocket.url_rule
    if rule is not None:
        note_route(websocket.scope, rule.rule)
