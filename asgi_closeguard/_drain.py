"""Drain: close a guard's open WebSockets over a spread of time before the server stops.

Every ASGI server closes all of its WebSockets in the same instant when it stops, and every
client then reconnects in the same instant: a storm on the instances that remain. A drain
spreads those closes out beforehand (from a Kubernetes ``preStop`` hook, a deploy script, an
admin endpoint): each open connection gets 1012 "Service Restart" at its own moment.

This module knows nothing of close codes. It holds the connections open now behind the guards
it was given to, each with one "close now" callable that the guard's shell registers when the
connection is accepted and removes when it ends; the callable goes through the connection's
own state (``Connection.drained``), so ``_connection.py`` stays the one place that decides what
a close is, the fallback for servers that refuse 1012 included. Registering costs one dict
insert and one delete per connection, nothing per message.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Final

from ._concurrency import Event, clock, detach, new_event, within

__all__ = ["Drain"]

logger = logging.getLogger("asgi_closeguard")

#: A guard's way to close one connection from outside its task; it returns once the close went
#: out (or could not), bounded by the guard.
CloseNow = Callable[[], Awaitable[None]]

# What start() allows beyond the spread and the guards' close_timeout: the last connection's
# task has to see its client's close and end, and its on_close to run.
_END_BOUND: Final = 1.0
# A close the drain sends is bounded like the 1012 at a shutdown: a send that hangs (a client
# that stopped reading) must not hold back the closes behind it.
_CLOSE_BOUND: Final = 0.25


class Drain:
    """Close the WebSockets behind a guard over a spread of time, before the server stops.

    Give one to the guard, then start it when the instance is about to go away::

        drain = Drain()
        app.add_middleware(CloseGuardMiddleware, drain=drain)

        @app.post("/drain")  # what a Kubernetes preStop hook calls
        async def start_drain(spread: float = 10.0) -> None:
            await drain.start(spread=spread)

        @app.get("/ready")  # the readiness probe: take the instance out of the load balancer
        async def ready() -> Response:
            return Response(status_code=503 if drain.draining else 200)

    Once started, :attr:`draining` is true; every open connection behind the guard gets 1012
    "Service Restart" (4012 on a server that refuses 1012, such as daphne) at its own moment,
    evenly spread over ``spread`` seconds; a WebSocket that arrives while draining is accepted
    and closed with 1012 at once, so its client reconnects elsewhere. HTTP and lifespan are
    untouched. A drain covers the connections of one process: with several workers, each
    worker's app holds its own ``Drain`` (see ``docs/deploying.md``).
    """

    def __init__(self) -> None:
        # The connections open now, in the order they opened: the oldest is closed first.
        self._open: dict[Hashable, CloseNow] = {}
        self._close_timeout = 0.0
        self._draining = False
        # Made when the drain starts, in the running event loop (asyncio or trio).
        self._all_ended: Event | None = None
        self._deadline = math.inf

    @property
    def draining(self) -> bool:
        """Whether :meth:`start` was called: answer the readiness probe with 503 from now on."""
        return self._draining

    @property
    def open_connections(self) -> int:
        """How many WebSocket connections behind the guard are open now."""
        return len(self._open)

    async def start(self, spread: float = 10.0) -> None:
        """Start draining, and return once every connection has ended.

        ``spread``: the seconds over which the open connections are closed, one at a time, in
        the order they opened; 0 closes them all at once. ``start()`` returns when every
        connection behind the guard has ended, or at the latest ``spread`` plus the guard's
        ``close_timeout`` plus one second after it was first called. Calling it again, from
        anywhere, waits for the same drain: no connection is closed twice. The closes go on
        even if the caller is cancelled (a preStop request that gave up).
        """
        if isinstance(spread, bool) or not isinstance(spread, int | float):
            raise TypeError(f"spread must be a number of seconds, not {spread!r}")
        if not 0 <= spread < math.inf:
            raise ValueError(f"spread must be a number of seconds, 0 or more, not {spread!r}")
        if not self._draining:
            self._begin(float(spread))
        await self._wait_for_the_end()

    def _begin(self, spread: float) -> None:
        self._draining = True
        self._all_ended = new_event()
        self._deadline = clock() + spread + self._close_timeout + _END_BOUND
        closes = list(self._open.items())
        logger.info("draining %d WebSocket connections over %s s", len(closes), spread)
        if not closes:
            self._all_ended.set()
            return

        all_ended = self._all_ended

        async def close_each_in_turn() -> None:
            started = clock()
            step = spread / len(closes)
            for index, (key, close_now) in enumerate(closes):
                delay = started + index * step - clock()
                if delay > 0 and await within(delay, all_ended.wait):
                    return  # every connection ended before its turn: nothing left to close
                if key in self._open:  # not ended by itself before its turn
                    await within(_CLOSE_BOUND, close_now)

        detach(close_each_in_turn(), "the drain")

    async def _wait_for_the_end(self) -> None:
        ended = self._all_ended
        assert ended is not None  # made by _begin, which every start() runs first
        finished = await within(max(0.0, self._deadline - clock()), ended.wait)
        if not finished:
            logger.warning(
                "the drain ended with %d WebSocket connections still open", len(self._open)
            )

    # --- The door the guard's shell uses -------------------------------------------------------

    def _opened(self, key: Hashable, close_now: CloseNow, close_timeout: float) -> bool:
        """A connection was accepted behind a guard; return whether to close it at once (the
        drain has started: the client reconnects elsewhere)."""
        self._open[key] = close_now
        self._close_timeout = max(self._close_timeout, close_timeout)
        return self._draining

    def _ended(self, key: Hashable) -> None:
        """A connection's app has finished (or it was turned away)."""
        self._open.pop(key, None)
        if not self._open and self._all_ended is not None:
            self._all_ended.set()
