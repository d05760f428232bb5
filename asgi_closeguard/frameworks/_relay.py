"""What the framework adapters share: the relay that hands a handler's exception to the guard,
and the checks of what an adapter is given.

Litestar, Quart, Falcon and BlackSheep catch a handler's exception, report it their own way (a
log line, hooks, signals) and then answer it themselves: a close after accept (Litestar 4500,
Quart 1000, Falcon 1011, BlackSheep 1011 with the exception's text), a refusal before. Behind an
adapter all of that reporting runs as without the guard; only the answer is the guard's:

1. the framework's own hook calls :func:`mark` with the exception (it raises nothing, so every
   other hook, signal receiver and log line of the framework runs, in its order);
2. the framework's answer to it — its close, or its HTTP response before accept — goes through
   the ``send`` that :class:`Relay` gave the framework, which raises :class:`Escape` instead: a
   ``BaseException``, so it passes every ``except Exception`` of the framework;
3. the relay turns it back into the handler's exception, which ``CloseGuardMiddleware`` handles
   as any exception that escaped the app: 1011 (or the mapped code) after accept, HTTP 500
   before, the record names it;
4. :class:`HandBack`, outside the guard, ends the exception the guard re-raises: the framework
   has reported it already, so the server logs nothing more, as without the guard.

Before accept on a server without the denial response (``websocket.http.response``: daphne,
some test clients) the guard cannot answer 500 itself: the exception goes on to the server,
which does.

Two guards around one app — an adapter's twice, or ``CloseGuardMiddleware`` around an app that
has its adapter — act as one: the inner guard steps aside, and so does the inner relay when an
outer relay is active, so that an exception is handed on once, to the guard that serves. An
inner relay under a plain guard stays active: the exception goes on, through the inner guard
that stepped aside, to the outer guard. Served without the relay, the same app keeps the
framework's own behaviour: :func:`mark` does nothing there.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from types import ModuleType
from typing import Any, Final, cast

from .._middleware import GUARD_SCOPE_KEY, CloseGuardMiddleware
from .._options import GuardOptions
from .._route import ROUTE_KEY
from .._types import ASGIApp, Message, Receive, Scope, Send

#: Set in a WebSocket scope while its connection runs behind an active relay.
RELAYED: Final = "asgi_closeguard.relayed"
#: The handler's exception that the relay handed to the guard, raised again by the guard.
HANDED: Final = "asgi_closeguard.handed"
#: The handler's exception, marked by the framework's hook until the framework answers it.
PENDING: Final = "asgi_closeguard.pending"
#: Set when the exception must reach the server: before accept, with no denial response.
TO_SERVER: Final = "asgi_closeguard.to_server"

_DENIAL_EXTENSION: Final = "websocket.http.response"
#: The messages a framework answers a handler's exception with.
_ANSWERS: Final = frozenset({"websocket.close", "websocket.http.response.start"})

#: Each framework whose apps an adapter takes (or that needs none), by its top-level module:
#: the adapter's module, or ``None`` for the plain middleware.
_ADAPTER_OF: Final[Mapping[str, str | None]] = {
    "litestar": "litestar",
    "quart": "quart",
    "falcon": "falcon",
    "blacksheep": "blacksheep",
    "channels": "channels",
    "django": "channels",
    "starlette": None,
    "fastapi": None,
}


class Escape(BaseException):
    """Carries a handler's exception past the framework's own ``except Exception`` blocks."""

    def __init__(self, exception: Exception) -> None:
        super().__init__(exception)
        self.exception = exception


def relayed(scope: Mapping[str, Any] | None) -> bool:
    """Whether the connection of ``scope`` runs behind an active :class:`Relay`."""
    return scope is not None and scope.get(RELAYED) is True


def guard_around(scope: Mapping[str, Any] | None) -> bool:
    """Whether a guard serves the connection of ``scope`` (whichever it is)."""
    return scope is not None and GUARD_SCOPE_KEY in scope


def note_route(scope: Mapping[str, Any], template: str) -> None:
    """Give the record the framework's own route template (see ``_route.route_template``).

    Mapping: the frameworks type their scopes as TypedDicts; each is the server's dict.
    """
    cast("MutableMapping[str, Any]", scope)[ROUTE_KEY] = template


def mark(exception: Exception, scope: Mapping[str, Any] | None) -> None:
    """Hand ``exception`` to the guard when the framework answers it, if an active relay is in
    place. Raises nothing: the framework goes on reporting it its own way."""
    if relayed(scope):
        cast("MutableMapping[str, Any]", scope).setdefault(PENDING, exception)


class Relay:
    """A thin ASGI app between the guard and the framework: hands the marked exception on.

    HTTP and lifespan scopes pass straight through, and so does a connection that another
    relay, outside this one, already serves.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or not self.active(scope):
            await self.app(scope, receive, send)
            return
        scope[RELAYED] = True
        try:
            await self.app(scope, receive, self.framework_send(scope, send))
        except BaseException as raised:
            escaped = _escape_in(raised)
            if escaped is None:
                raise
            exception = escaped.exception
        else:
            return
        finally:
            del scope[RELAYED]
            scope.pop(PENDING, None)
        scope[HANDED] = exception
        # Raised outside the `except` block, so that the carrier does not become the
        # exception's context: the traceback is the handler's own.
        raise exception

    def active(self, scope: Scope) -> bool:
        """Whether this relay hands on the exceptions of the connection: unless a relay outside
        it already does."""
        return RELAYED not in scope

    def reaches_server(self) -> bool:
        """Whether an exception this relay raises reaches the server (or a plain guard) when
        nothing of the framework's stands between them."""
        return True

    def framework_send(self, scope: Scope, send: Send) -> Send:
        """The ``send`` the framework is given: the server's own, except for the framework's
        answer to a marked exception, which becomes the guard's."""
        answerable = _DENIAL_EXTENSION in (scope.get("extensions") or {})
        accepted = False

        async def send_unless_handed(message: Message) -> None:
            nonlocal accepted
            kind = message["type"]
            if kind == "websocket.accept":
                accepted = True
            elif kind in _ANSWERS and PENDING in scope:
                exception = scope.pop(PENDING)
                if accepted or answerable:
                    raise Escape(exception)
                if self.reaches_server():
                    # Before accept, with no denial response: the server answers 500 for the
                    # exception itself.
                    scope[TO_SERVER] = True
                    raise Escape(exception)
                # Nothing but the framework's own refusal can answer it from here.
            await send(message)

        return send_unless_handed


class HandBack:
    """Outside the guard: the framework's exception the guard re-raises ends here.

    The framework reported it (its log, its hooks) before it answered it, and without the guard
    nothing would have reached the server: nothing does, but what must (:data:`TO_SERVER`), and
    what the guard around the relay did not serve (a plain guard outside serves it).
    """

    def __init__(self, guard: CloseGuardMiddleware) -> None:
        self.app = guard  # as ASGI middleware keeps what it wraps

    # Any: what a server hands an app, in whatever words it types them (hypercorn's serve()
    # takes this app only if it takes hypercorn's TypedDict scope and events).
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if (
                scope.get(HANDED) is not exc
                or scope.get(GUARD_SCOPE_KEY) is not self.app
                or TO_SERVER in scope
            ):
                raise


def _escape_in(raised: BaseException) -> Escape | None:
    """The :class:`Escape` in ``raised``, also inside an exception group.

    A framework that runs the handler in a task group of its own (Quart 0.23 runs the handler
    and its reader in an ``asyncio.TaskGroup``) hands the carrier back wrapped in a
    ``BaseExceptionGroup``, beside the reader's cancellation.
    """
    if isinstance(raised, Escape):
        return raised
    for inner in getattr(raised, "exceptions", ()):
        found = _escape_in(inner)
        if found is not None:
            return found
    return None


def guarded(app: ASGIApp, options: GuardOptions) -> HandBack:
    """``app`` behind the relay and the guard, built with the guard's own keyword options."""
    return HandBack(CloseGuardMiddleware(Relay(app), **options))


def check_options(options: GuardOptions) -> None:
    """Check ``options`` now, by the guard itself, for an adapter that builds its guard later."""
    CloseGuardMiddleware(_placeholder, **options)


async def _placeholder(scope: Scope, receive: Receive, send: Send) -> None:
    raise NotImplementedError


def require(module: str, package: str) -> ModuleType:
    """Import a framework, or say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"asgi_closeguard.frameworks.{module.partition('.')[0]} needs {package}: "
            f"pip install {package}"
        ) from exc


def framework_of(app: object) -> str | None:
    """The framework ``app`` belongs to, by the module of its class (or of the function, for
    Channels' ``as_asgi()`` apps), among those :data:`_ADAPTER_OF` knows."""
    modules = [cls.__module__ for cls in type(app).__mro__]
    modules.append(str(getattr(app, "__module__", "")))
    for module in modules:
        top = module.partition(".")[0]
        if top in _ADAPTER_OF:
            return top
    return None


def belongs_elsewhere(app: object, adapter: str) -> bool:
    """Whether ``app`` is another framework's, one that ``adapter`` is not for."""
    found = framework_of(app)
    return found is not None and _ADAPTER_OF[found] != adapter


def wrong_app(app: object, adapter: str, expected: str) -> TypeError:
    """The error for an app that ``adapter``'s ``guard()`` does not take, naming what does."""
    kind = type(app)
    given = f"{kind.__module__}.{kind.__qualname__}"
    found = framework_of(app)
    right = _ADAPTER_OF.get(found or "", adapter)
    if isinstance(app, CloseGuardMiddleware | HandBack):
        hint = "give the adapter the framework's app itself, not one already behind the guard"
    elif right is None:
        hint = "Starlette and FastAPI need no adapter: app.add_middleware(CloseGuardMiddleware)"
    elif right != adapter:
        hint = f"use its own adapter: from asgi_closeguard.frameworks.{right} import guard"
    else:
        hint = f"build one first, as {adapter}'s docs do"
    return TypeError(
        f"asgi_closeguard.frameworks.{adapter}.guard() takes {expected}, not {given}: {hint}"
    )
