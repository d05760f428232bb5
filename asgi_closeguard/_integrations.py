"""What the Prometheus and OpenTelemetry integrations share: how a close becomes a label, and
how the connections open now are counted."""

from __future__ import annotations

import logging
import threading
from typing import Final

__all__ = ["DURATION_BUCKETS", "OpenConnections", "exception_name"]

logger = logging.getLogger("asgi_closeguard")

#: Upper bounds, in seconds, for the histograms of connection durations. A WebSocket lives from
#: milliseconds (a refused handshake) to hours (a dashboard left open), so the bounds grow by
#: about a factor of three up to eight hours.
DURATION_BUCKETS: Final = (
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    28800.0,
)


def exception_name(exception: type[BaseException]) -> str:
    """The exception type's canonical name: ``"RuntimeError"`` for a builtin,
    ``"myapp.errors.QuotaExceeded"`` otherwise.

    OpenTelemetry's ``error.type`` takes this spelling, and FastAPI's own telemetry writes it on
    the same span, so the two agree instead of overwriting each other.
    """
    if exception.__module__ == "builtins":
        return exception.__qualname__
    return f"{exception.__module__}.{exception.__qualname__}"


class OpenConnections:
    """The connections an integration was told were opened, per route, so that its gauge goes
    down only for a connection it counted going up.

    The guard calls ``connection_opened(route)`` on each ``on_close`` callback that has one, right
    after the accept went out, and later hands the same connection's record over with
    ``accepted=True`` and, in every framework the guard knows, the same ``route`` (frameworks
    put the matched route in the scope before the handler can accept). The guard keeps nothing
    per connection for this: the integration matches a close to an open by its route.

    An integration called from a function of the user's (``on_close=lambda r: metrics(r)``)
    is never told of the opens. Its gauge then stays at 0 instead of going below it, and one
    warning says how to wire it.
    """

    __slots__ = ("_counts", "_lock", "_owner", "_warned")

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._counts: dict[str | None, int] = {}
        # Several event loops in threads (test clients, apps served twice) may share one
        # integration; a count is read and written back, so the two steps go together.
        self._lock = threading.Lock()
        self._warned = False

    def opened(self, route: str | None) -> None:
        """One more connection open on ``route``."""
        with self._lock:
            self._counts[route] = self._counts.get(route, 0) + 1

    def closed(self, route: str | None) -> bool:
        """An accepted connection on ``route`` ended: whether it was one counted as opened."""
        with self._lock:
            count = self._counts.get(route, 0)
            if count > 0:
                self._counts[route] = count - 1
                return True
            warn = not self._warned
            self._warned = True
        if warn:
            logger.warning(
                "%s got the record of a connection it was not told was opened, so its count "
                "of open connections leaves that one out. The guard tells only the on_close "
                "callbacks it is given: give it to the guard itself (on_close=[%s(), "
                "my_callback]), or call its connection_opened(route) at each accept",
                self._owner,
                self._owner,
            )
        return False
