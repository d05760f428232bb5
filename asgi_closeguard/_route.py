"""The route a connection matched, as a path template: the ``route`` of its record."""

from __future__ import annotations

from ._types import Scope

__all__ = ["route_template"]


def route_template(scope: Scope) -> str | None:
    """The matched route's path template (``"/rooms/{room}"``), never the raw path.

    Starlette's router, and so FastAPI's, stores the matched route in ``scope["route"]``; the
    scope is the same dict the app was given, so it is there once the app has run.
    """
    template = getattr(scope.get("route"), "path", None)
    return template if isinstance(template, str) else None
