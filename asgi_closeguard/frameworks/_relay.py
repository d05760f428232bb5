"""What the framework adapters share: the relay that hands a handler's exception to the guard.

A framework hook that learns of a handler's exception calls :func:`escape`. When the connection
runs behind :class:`Relay` (the relay marks the scope), ``escape`` raises :class:`Escape`: a
``BaseException``, so it passes every ``except Exception`` of the framework — its logging, its
own close (Litestar 4500, Quart 1000, BlackSheep 1011 with the exception's text) — and the
relay turns it back into the handler's exception, which ``CloseGuardMiddleware`` then handles
as any exception that escaped the app: 1011 (or the mapped code) after accept, HTTP 500 before.

Served without the relay, the same app keeps the framework's own behaviour: ``escape`` does
nothing there.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Final

from .._middleware import CloseGuardMiddleware
from .._types import ASGIApp, Receive, Scope, Send

#: Set in a WebSocket scope while its connection runs behind the relay.
RELAYED: Final = "asgi_closeguard.relayed"
#: The ``id()`` of the exception the relay handed to the guard.
HANDED: Final = "asgi_closeguard.handed"


class Escape(BaseException):
    """Carries a handler's exception past the framework's own ``except Exception`` blocks."""

    def __init__(self, exception: Exception) -> None:
        super().__init__(exception)
        self.exception = exception


def relayed(scope: Mapping[str, Any] | None) -> bool:
    """Whether the connection of ``scope`` runs behind :class:`Relay`."""
    return scope is not None and scope.get(RELAYED) is True


def escape(exception: Exception, scope: Mapping[str, Any] | None) -> None:
    """Hand ``exception`` to the guard, past the framework, if the relay is in place."""
    if scope is not None and scope.get(HANDED) == id(exception):
        # The guard has answered this exception and re-raised it (``reraise=True``) into a
        # layer of the framework outside the guard (Litestar's app-wide exception handler,
        # around the plugin's guard): on to the server, untouched, for its log.
        raise exception
    if relayed(scope):
        raise Escape(exception)


class Relay:
    """A thin ASGI app between the guard and the framework: raises what :func:`escape` carried.

    HTTP and lifespan scopes pass straight through.
    """

    def __init__(self, app: Any) -> None:
        # Any: each framework types its ASGI callable in its own words.
        self.app: ASGIApp = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        scope[RELAYED] = True
        try:
            await self.app(scope, receive, send)
        except BaseException as raised:
            escaped = _escape_in(raised)
            if escaped is None:
                raise
            exception = escaped.exception
        else:
            return
        finally:
            del scope[RELAYED]
        scope[HANDED] = id(exception)
        # Raised outside the `except` block, so that the carrier does not become the
        # exception's context: the traceback the server logs is the handler's own.
        raise exception


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


def guarded(app: Any, options: dict[str, Any]) -> CloseGuardMiddleware:
    """``app`` behind the relay and the guard, built with the guard's own keyword options."""
    return CloseGuardMiddleware(Relay(app), **options)


def require(module: str, package: str) -> ModuleType:
    """Import a framework, or say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"asgi_closeguard.frameworks.{module.partition('.')[0]} needs {package}: "
            f"pip install {package}"
        ) from exc
