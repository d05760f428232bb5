"""Litestar behind the guard: ``after_exception`` hands the handler's exception to it.

>>> from asgi_closeguard.frameworks.litestar import guard
>>> app = guard(Litestar(route_handlers=[...]))  # doctest: +SKIP

or, as a plugin, with the app object served as it is::

    app = Litestar(route_handlers=[...], plugins=[CloseGuardPlugin()])

Litestar catches a WebSocket handler's exception, runs its ``after_exception`` hooks and then
closes with 4500 "Internal Server Error" (before accept: a close the server answers with 403).
The adapter's hook, added last, hands the exception to the guard before that close: the client
gets 1011 (or the mapped code), an HTTP 500 before accept, and the record names the exception.

Litestar's deliberate closes stay Litestar's: a ``WebSocketException`` closes with its own code
and detail, and an ``HTTPException`` below 500 (``NotAuthorizedException`` from a guard, say)
with Litestar's 4500 and its detail, a 403 before accept. HTTP is untouched.

Needs Litestar: ``pip install litestar``. Importing this module does not import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._middleware import CloseGuardMiddleware
from ._relay import escape, guarded, require

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.config.app import AppConfig

__all__ = ["CloseGuardPlugin", "guard"]


def guard(app: Litestar, **options: Any) -> CloseGuardMiddleware:
    """Return ``app`` behind ``CloseGuardMiddleware``, with Litestar's hook wired.

    ``options`` are ``CloseGuardMiddleware``'s keyword options. Serve the returned app.
    """
    require("litestar", "litestar")
    if _after_exception not in app.after_exception:
        app.after_exception.append(_after_exception)
    return guarded(app, options)


class CloseGuardPlugin:
    """Litestar's idiom: ``Litestar(..., plugins=[CloseGuardPlugin(**options)])``.

    Adds the hook and the guard as the outermost middleware of every route. Routing happens
    before Litestar's middleware, so a WebSocket to a path with no route never reaches the
    guard: Litestar closes it with its own 4404. ``guard(app)`` guards those too.
    """

    def __init__(self, **options: Any) -> None:
        require("litestar", "litestar")
        # Checked now, by the guard itself, rather than when the first route is built.
        CloseGuardMiddleware(_no_app, **options)
        self.options = options

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Litestar's ``InitPluginProtocol``: wire the hook and add the guard."""
        app_config.after_exception = [*app_config.after_exception, _after_exception]
        app_config.middleware = [self._middleware, *app_config.middleware]
        return app_config

    def _middleware(self, app: Any) -> Any:
        return guarded(app, self.options)


async def _after_exception(exc: Exception, scope: Mapping[str, Any]) -> None:
    if scope["type"] == "websocket" and not _deliberate(exc):
        escape(exc, scope)


def _deliberate(exc: Exception) -> bool:
    """A close the app chose: Litestar's own answer to it stays."""
    from litestar.exceptions import HTTPException, WebSocketException

    if isinstance(exc, WebSocketException):
        return True
    return isinstance(exc, HTTPException) and exc.status_code < 500


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    raise NotImplementedError
