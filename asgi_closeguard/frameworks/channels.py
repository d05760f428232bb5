"""Django Channels behind the guard.

>>> from asgi_closeguard.frameworks.channels import guard
>>> application = guard(ProtocolTypeRouter({"websocket": URLRouter(websocket_urlpatterns)}))
... # doctest: +SKIP

Channels lets a consumer's exception escape to the server, so the guard sees it without any
hook: ``guard`` is ``CloseGuardMiddleware`` around the application, plus the record's
``route``: the URL route patterns that match the connection's path, joined as Channels nests
its ``URLRouter``\\s (``/ws/chat/<str:room>/``; a ``re_path`` pattern without its ``^`` and
``$``). A consumer that raises after accept gets 1011 (or the mapped code), before accept an
HTTP 500; ``DenyConnection`` stays a 403, and a consumer that closes gets its close, with the
reason cut to 123 bytes.

Consumers of a channel layer keep a ``receive()`` in flight while a channel-layer message is
handled; when such a handler closes, the ``websocket.disconnect`` that answers the close reaches
that call, and the guard's record keeps the close that went out.

On daphne, Channels' own server (and ``runserver``), the guard falls back as it does for every
app there: daphne sends only 1000 and 3000-4999, and never the close reason
(``docs/frameworks.md`` puts daphne and uvicorn side by side).

Needs Channels: ``pip install channels``. Importing this module does not import it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._middleware import CloseGuardMiddleware
from .._route import ROUTE_KEY
from .._types import ASGIApp, Receive, Scope, Send
from ._relay import belongs_elsewhere, require, wrong_app

if TYPE_CHECKING:
    from .._options import GuardOptions

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = ["guard"]

# Routers inside middleware inside routers: deeper than this is a cycle.
_MAX_DEPTH: Final = 32


def guard(application: ASGIApp, **options: Unpack[GuardOptions]) -> CloseGuardMiddleware:
    """Return ``application`` (a ``ProtocolTypeRouter``, a consumer's ``as_asgi()``, ...)
    behind ``CloseGuardMiddleware``.

    ``options`` are ``CloseGuardMiddleware``'s keyword options, checked now. Serve the
    returned app.
    """
    require("channels", "channels")
    if belongs_elsewhere(application, "channels"):
        raise wrong_app(application, "channels", "a Channels (or Django) ASGI application")
    return CloseGuardMiddleware(_Routes(application), **options)


class _Routes:
    """Puts the URL route pattern of each WebSocket connection in its scope, for the record.

    ``URLRouter`` hands the consumer a copy of the scope, so its match never reaches the
    guard's: the patterns are matched here again, as ``URLRouter`` matches them.
    """

    def __init__(self, application: ASGIApp) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            router = _router_in(self.application)
            if router is not None:
                pattern = _match(router, _routed_path(scope), _MAX_DEPTH)
                if pattern is not None:
                    scope[ROUTE_KEY] = "/" + pattern
        await self.application(scope, receive, send)


def _router_in(application: object) -> Any:
    """The outermost ``URLRouter`` for WebSockets in ``application``, through
    ``ProtocolTypeRouter``, ``OriginValidator`` and middleware such as ``AuthMiddlewareStack``."""
    for _ in range(_MAX_DEPTH):
        if getattr(application, "_path_routing", False) is True:
            return application
        mapping = getattr(application, "application_mapping", None)
        if isinstance(mapping, Mapping):
            application = mapping.get("websocket")
        else:
            application = getattr(application, "inner", None) or getattr(
                application, "application", None
            )
        if application is None:
            break
    return None


def _routed_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    return path.lstrip("/")


def _match(router: Any, path: str, depth: int) -> str | None:
    routes: Sequence[Any] = getattr(router, "routes", ())
    for route in routes:
        match = route.pattern.match(path)
        if not match:
            continue
        here = _pattern_text(route.pattern)
        if getattr(route.callback, "_path_routing", False) is not True:
            return here
        if depth > 0:
            below = _match(route.callback, match[0], depth - 1)
            if below is not None:
                return here + below
    return None


def _pattern_text(pattern: object) -> str:
    text = str(pattern).removeprefix("^")
    if text.endswith("$") and not text.endswith("\\$"):
        text = text[:-1]
    return text
