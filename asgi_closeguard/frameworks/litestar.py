"""Litestar behind the guard, as a plugin::

    from asgi_closeguard.frameworks.litestar import CloseGuardPlugin

    app = Litestar(route_handlers=[...], plugins=[CloseGuardPlugin()])

served as Litestar serves apps (``litestar run``, ``uvicorn app:app``). For an app built
elsewhere, ``guard(app)`` does the same to the app object itself and returns it.

Litestar catches a WebSocket handler's exception, logs it (as its logging config says), runs
its ``after_exception`` hooks and then closes with 4500 "Internal Server Error" (before accept:
a close the server answers with 403). Behind the adapter all of that runs as without it, once
per exception and in the order the app's hooks and plugins put it — only the close is the
guard's: 1011 (or the mapped code), an HTTP 500 before accept, and the record names the
exception. The adapter's hook marks the exception; the close Litestar then sends is where the
guard takes over. Litestar has reported it, so the server logs nothing more, as without the
guard. Under the plugin, on a server without the denial response (daphne, Litestar's
``TestClient``), a crash before accept keeps Litestar's own refusal: the plugin's guard sits
under Litestar's app-wide exception handler, which would handle an exception re-raised to the
server a second time. ``guard(app)`` makes it an HTTP 500 there too.

Litestar's deliberate closes stay Litestar's: a ``WebSocketException`` closes with its own code
and detail, and an ``HTTPException`` below 500 (``NotAuthorizedException`` from a guard, say)
with Litestar's 4500 and its detail, a 403 before accept. HTTP is untouched.

The plugin puts the guard in every route's middleware, so a WebSocket to a path with no route
never reaches it (Litestar refuses it: HTTP 403); ``guard(app)`` puts it around Litestar's
router, so those connections have a record too. Both together act as one guard.

Needs Litestar: ``pip install litestar``. Importing this module does not import it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .._middleware import GUARD_SCOPE_KEY, CloseGuardMiddleware
from .._types import ASGIApp, Message, Receive, Scope, Send
from ._relay import HandBack, Relay, mark, require, wrong_app

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.config.app import AppConfig

    from .._options import GuardOptions

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = ["CloseGuardPlugin", "guard"]

#: The app the guard serves, the route's (plugin) or Litestar's router (``guard(app)``), and
#: whether it is a route's.
_next_app: ContextVar[tuple[ASGIApp, bool]] = ContextVar("asgi_closeguard_litestar_next_app")


def guard(app: Litestar, **options: Unpack[GuardOptions]) -> Litestar:
    """Put the guard around ``app``'s router, wire Litestar's hook, and return ``app`` itself.

    The app object stays the one to serve (``litestar run`` finds it as before).
    ``options`` are ``CloseGuardMiddleware``'s keyword options, checked now.
    """
    require("litestar", "litestar")
    from litestar import Litestar

    if not isinstance(app, Litestar):
        raise wrong_app(app, "litestar", "a Litestar app")
    guard = _LitestarGuard(options)
    if _after_exception not in app.after_exception:
        app.after_exception.append(_after_exception)
    app.asgi_handler = guard.entry(app.asgi_handler, route=False)
    app.on_shutdown.append(guard.shutdown)
    return app


class CloseGuardPlugin:
    """Litestar's idiom: ``Litestar(..., plugins=[CloseGuardPlugin(**options)])``.

    Adds the hook, and one guard as the outermost middleware of every route. ``options`` are
    ``CloseGuardMiddleware``'s keyword options, checked now.
    """

    def __init__(self, **options: Unpack[GuardOptions]) -> None:
        require("litestar", "litestar")
        self.guard = _LitestarGuard(options)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Litestar's ``InitPluginProtocol``: wire the hook and add the guard."""
        if _after_exception not in app_config.after_exception:
            app_config.after_exception = [*app_config.after_exception, _after_exception]
        app_config.middleware = [self._route_middleware, *app_config.middleware]
        app_config.on_shutdown = [*app_config.on_shutdown, self.guard.shutdown]
        return app_config

    def _route_middleware(self, app: Any) -> Any:
        """Litestar's middleware factory, called with each route's app as ``app=``."""
        return self.guard.entry(app, route=True)


class _LitestarGuard:
    """One guard for every place it is wired in (every route, or the router), so that one
    connection is one guard's, and the options and callbacks are given once."""

    def __init__(self, options: GuardOptions) -> None:
        self.middleware = CloseGuardMiddleware(_LitestarRelay(_call_next), **options)
        self.hand_back = HandBack(self.middleware)

    def entry(self, app: Any, *, route: bool) -> Any:
        """The guard in front of ``app``: a route's (``route``) or Litestar's router.

        Any: Litestar types its ASGI callables and middleware factories in its own words.
        """
        return _Entry(app, self.hand_back, route=route)

    async def shutdown(self) -> None:
        """Litestar's ``on_shutdown`` hook: tell the guard that the lifespan shutdown arrived,
        so that it reports the connections the server abandons (Litestar runs its lifespan
        itself, past the router that the guard wraps)."""
        await self.middleware({"type": "lifespan"}, _shutdown_message, _ignore)


async def _shutdown_message() -> Message:
    return {"type": "lifespan.shutdown"}


async def _ignore(message: Message) -> None:
    """Nothing answers the lifespan that :meth:`_LitestarGuard.shutdown` plays."""


class _Entry:
    """In front of one app: WebSocket connections go through the guard, the rest straight on.

    With the plugin the guard sits in each route, under Litestar's app-wide exception handler:
    the exception the guard re-raises ends here (:class:`HandBack`), or that handler would
    log it and run every hook a second time.
    """

    def __init__(self, app: ASGIApp, hand_back: HandBack, *, route: bool) -> None:
        self.app = app
        self.hand_back = hand_back
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        token = _next_app.set((self.app, self.route))
        try:
            await self.hand_back(scope, receive, send)
        finally:
            _next_app.reset(token)


async def _call_next(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        # Litestar's lifespan never comes this way; the one lifespan here is the shutdown
        # that _LitestarGuard.shutdown plays for the guard.
        await receive()
        return
    await _next_app.get()[0](scope, receive, send)


class _LitestarRelay(Relay):
    """Hands the marked exception to the guard when Litestar sends its close for it."""

    def active(self, scope: Scope) -> bool:
        if _next_app.get()[1]:
            # In a route, under Litestar's app-wide exception handler: an exception handed
            # from here can reach no guard but this one, outside that handler.
            return getattr(scope.get(GUARD_SCOPE_KEY), "app", None) is self
        return super().active(scope)

    def reaches_server(self) -> bool:
        # From a route, only through Litestar's app-wide handler, which would handle it again.
        return not _next_app.get()[1]


async def _after_exception(exc: Exception, scope: Mapping[str, Any]) -> None:
    # It only marks the exception, and raises nothing: every hook runs, in its order, and
    # Litestar logs as it would; the close Litestar sends next is where the relay takes over.
    if scope["type"] == "websocket" and not _deliberate(exc):
        mark(exc, scope)


def _deliberate(exc: Exception) -> bool:
    """A close the app chose: Litestar's own answer to it stays."""
    from litestar.exceptions import HTTPException, WebSocketException

    if isinstance(exc, WebSocketException):
        return True
    return isinstance(exc, HTTPException) and exc.status_code < 500
