"""The few things the guard needs from the async library running the app: asyncio or trio.

The guard depends on neither. It looks at which one runs the current task and uses that one's
own primitives; every function here is on a rare path (a close, a cancellation, a shutdown),
never on the path of a ``websocket.send`` or ``websocket.receive``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

__all__ = [
    "Event",
    "cancel_requested",
    "clock",
    "detach",
    "is_cancellation",
    "new_event",
    "shielded",
    "within",
]

logger = logging.getLogger("asgi_closeguard")

# The exception types a cancellation arrives as: asyncio's (which anyio uses on asyncio too)
# and trio's. Matched by module and name, so that neither library is imported here.
_CANCELLATIONS = frozenset({("asyncio.exceptions", "CancelledError"), ("trio", "Cancelled")})

# Tasks started by `detach` under asyncio: the event loop keeps only weak references to tasks,
# so a task nobody holds may be collected before it ran to the end.
_detached: set[Any] = set()


class Event(Protocol):
    """What the guard uses of ``asyncio.Event`` and ``trio.Event``."""

    def set(self) -> None: ...

    async def wait(self) -> Any: ...


def is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` is a cancellation (``asyncio.CancelledError`` or ``trio.Cancelled``),
    as opposed to ``KeyboardInterrupt``, ``SystemExit`` or an ordinary exception."""
    return any((cls.__module__, cls.__qualname__) in _CANCELLATIONS for cls in type(exc).__mro__)


def _trio() -> Any | None:
    """The trio module when trio runs the current task, else ``None`` (asyncio does)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return None
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return None  # trio is imported, but asyncio runs this task
    return trio


async def within(seconds: float, work: Callable[[], Awaitable[None]]) -> bool:
    """Run ``work()`` for ``seconds`` at most; return whether it finished in time.

    A cancellation of the caller propagates at once, as with any await.
    """
    trio = _trio()
    if trio is not None:
        with trio.move_on_after(seconds) as scope:
            await work()
        return not scope.cancelled_caught
    import asyncio

    try:
        await asyncio.wait_for(work(), seconds)
    except asyncio.TimeoutError:  # the builtin TimeoutError from 3.11 on
        return False
    return True


async def shielded(seconds: float, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``work()`` to its end, bounded by ``seconds``, even inside a cancelled scope.

    For the close the guard sends when the server cancels the app: trio and anyio cancel
    every await inside a cancelled scope, so an unshielded send would never go out. Under
    trio the work runs in a shielded scope with a deadline. Under asyncio it runs as a task of
    its own: a further cancellation of the caller propagates at once, while the task still
    finishes its send within the bound.
    """
    trio = _trio()
    if trio is not None:
        with trio.move_on_after(seconds) as scope:
            scope.shield = True
            await work()
        return
    import asyncio

    await asyncio.shield(_kept(asyncio.ensure_future(within(seconds, work))))


def detach(awaitable: Awaitable[Any], what: str) -> None:
    """Let ``awaitable`` run to its end without the current task waiting for it.

    Used for an async ``on_close`` when the connection's task is being cancelled: the record
    is still delivered, and nothing waits after a cancellation. An exception is logged.
    """

    async def run() -> None:
        try:
            await awaitable
        except Exception:
            logger.exception("%s raised", what)

    trio = _trio()
    if trio is not None:
        trio.lowlevel.spawn_system_task(run)
        return
    import asyncio

    _kept(asyncio.ensure_future(run()))


def _kept(task: Any) -> Any:
    """Hold ``task`` until it ends: the event loop keeps only weak references to tasks."""
    _detached.add(task)
    task.add_done_callback(_detached.discard)
    return task


def cancel_requested() -> bool:
    """Whether the current task has been asked to stop, even if the app swallowed the
    cancellation: asyncio counts pending requests (``Task.cancelling()``, Python 3.11+);
    under trio a cancelled scope has an effective deadline of minus infinity."""
    trio = _trio()
    if trio is not None:
        return bool(trio.current_effective_deadline() == float("-inf"))
    import asyncio

    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop: a coroutine driven by hand, which nobody cancels
        return False
    cancelling = getattr(task, "cancelling", None)
    return cancelling is not None and cancelling() > 0


def new_event() -> Event:
    """An event of the library running the current task."""
    trio = _trio()
    if trio is not None:
        event: Event = trio.Event()
        return event
    import asyncio

    return asyncio.Event()


def clock() -> float:
    """The running event loop's clock, in seconds (what its timeouts and sleeps measure)."""
    trio = _trio()
    if trio is not None:
        return float(trio.current_time())
    import asyncio

    return asyncio.get_running_loop().time()
