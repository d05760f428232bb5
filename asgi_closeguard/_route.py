"""The route a connection matched, as a path template: the ``route`` of its record.

Read from the scope once the app has run (and at accept, for the open-connections gauge):
the scope is the same dict the app was given, and each framework's router leaves its match
there. A template names the route, never the raw path: ``/chat/rooms/{room}``, not
``/chat/rooms/42``, so that a metric labelled with it stays one series per route.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from ._types import Scope

__all__ = ["ROUTE_KEY", "route_template"]

#: Where a framework adapter puts the framework's own template (Quart's URL rule, Channels'
#: URL route pattern, Falcon's URI template, BlackSheep's route pattern), for this module to
#: find.
ROUTE_KEY: Final = "asgi_closeguard.route"
# Mounts inside mounts, and middleware around a mounted app: deeper than this is a cycle.
_MAX_DEPTH: Final = 32


def route_template(scope: Scope) -> str | None:
    """The matched route's path template, with the templates of the mounts above it.

    - Starlette's router, and so FastAPI's, stores the matched route in ``scope["route"]``;
      each router below a ``Mount`` overwrites it with its own match, so the mounts above it
      are found again: from ``scope["router"]``, the outermost router, the mounts whose
      matches took off the front of the path what ``root_path`` grew by.
    - Litestar stores its path template in ``scope["path_template"]``.
    - The framework adapters store their framework's template under :data:`ROUTE_KEY`.

    A framework's own template under a Starlette ``Mount`` gets the mount's template in front.
    ``None`` when nothing routed the connection.
    """
    own = _frameworks_own(scope)
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return own
    mount = _is_mount(route)
    if own is not None and not mount:
        return own
    # Only a Mount sets "app_root_path": without it, no mount is above the route.
    above = _mounts_taken(scope) if "app_root_path" in scope else None
    if above is None:
        above = template if mount else ""
    return above + ("" if mount else template) + (own or "")


def _frameworks_own(scope: Scope) -> str | None:
    own = scope.get(ROUTE_KEY)
    if isinstance(own, str):
        return own
    if "litestar_app" in scope:
        litestar = scope.get("path_template")
        if isinstance(litestar, str) and litestar:
            return litestar
    return None


def _is_mount(route: object) -> bool:
    """A ``Mount`` or a ``Host``: routes below it, rather than an endpoint."""
    return hasattr(type(route), "routes")


def _mounts_taken(scope: Scope) -> str | None:
    """The templates of the mounts that routed the connection, joined (``None``: not found).

    Each ``Mount`` that matches adds the part of the path it took to ``root_path``; the mounts
    are those whose matches, one below the other, took exactly that off the front of the path
    (so a route object mounted twice is found under the mount that served it).
    """
    app_root_path: str = scope.get("app_root_path", "")
    root_path: str = scope.get("root_path", "")
    path: str = scope.get("path", "")
    if app_root_path and path.startswith(app_root_path + "/"):
        path = path[len(app_root_path) :]
    taken = root_path[len(app_root_path) :] if root_path.startswith(app_root_path) else ""
    return _mounts(_routes_of(scope.get("router")), path, taken, _MAX_DEPTH)


def _mounts(routes: Sequence[Any], path: str, taken: str, depth: int) -> str | None:
    if not taken:
        return ""
    if depth == 0:
        return None
    for route in routes:
        if not _is_mount(route):
            continue
        regex = getattr(route, "path_regex", None)
        if regex is None:  # a Host: it routes by the host header and keeps the path
            found = _mounts(_routes_of(route), path, taken, depth - 1)
        else:
            match = regex.match(path)
            if match is None:
                continue
            rest = "/" + match.groupdict().get("path", "")
            here = path[: len(path) - len(rest)]
            if not taken.startswith(here):
                continue
            below = _mounts(_routes_of(route), rest, taken[len(here) :], depth - 1)
            found = None if below is None else route.path + below
        if found is not None:
            return found
    return None


def _routes_of(holder: object) -> Sequence[Any]:
    """The routes of a router, an app or a mount, looking through middleware around an app
    (``Mount("/chat", app=CloseGuardMiddleware(chat))``: each middleware keeps its ``app``)."""
    routes = getattr(holder, "routes", None)
    app = getattr(holder, "app", None)
    for _ in range(_MAX_DEPTH):
        if isinstance(routes, list | tuple) and routes:
            return routes
        if app is None:
            break
        routes = getattr(app, "routes", None)
        app = getattr(app, "app", None)
    return ()
