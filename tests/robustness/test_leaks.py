"""Leaks: thousands of connections through the guard leave no growth and no live state behind.

Every connection's state lives in the locals of one ``__call__`` and in the closures it hands
the app (``receive`` and ``send``). Once the connection is over, nothing may keep them alive:
not the middleware instance, not a log record, not an exception's traceback held somewhere.
"""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
import weakref
from collections.abc import Callable
from typing import Any, Final

import anyio
import pytest

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._types import Message, Receive, Scope, Send
from tests.harness import CONNECT, InMemoryServer, disconnect, text

CONNECTIONS: Final = 10_000
WARM_UP: Final = 1_000
#: Allowed growth after CONNECTIONS connections: small and fixed, never proportional to N
#: (a single leaked closure per connection would already be hundreds of kilobytes).
GROWTH_LIMIT: Final = 64 * 1024

ACCEPT: Message = {"type": "websocket.accept"}


class Boom(Exception):
    pass


async def _echo_then_return(receive: Receive, send: Send) -> None:
    message = await receive()
    await send({"type": "websocket.send", "text": message.get("text")})


async def _crash(receive: Receive, send: Send) -> None:
    raise Boom("crash")


async def _close(receive: Receive, send: Send) -> None:
    await send({"type": "websocket.close", "code": 4000, "reason": "done"})
    await receive()  # answered by the guard: the disconnect it recorded


async def _client_leaves(receive: Receive, send: Send) -> None:
    await receive()
    await receive()  # the client's disconnect, repeated by the guard


async def _send_fails(receive: Receive, send: Send) -> None:
    try:
        await send({"type": "websocket.send", "text": "into the void"})
    except OSError:
        return


Behaviour = Callable[[Receive, Send], Any]
# (what the handler does after accept, what the client sends, server options). The server's
# error is made anew for each connection, as a real server's is: one shared instance would keep
# its last traceback, and with it the last connection's frames, alive.
BEHAVIOURS: Final[list[tuple[Behaviour, list[Message], Callable[[], dict[str, Any]]]]] = [
    (_echo_then_return, [CONNECT, text("hi")], dict),
    (_crash, [CONNECT], dict),
    (_close, [CONNECT], dict),
    (_client_leaves, [CONNECT, text("hi"), disconnect(1001, "bye")], dict),
    (_send_fails, [CONNECT], lambda: {"send_error": BrokenPipeError(), "fail_sends_after": 1}),
]


def _app(watch: Callable[[Receive, Send], None] | None = None) -> Callable[..., Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if watch is not None:
            watch(receive, send)
        await receive()
        await send(ACCEPT)
        await scope["behaviour"](receive, send)

    return app


async def _connections(guard: CloseGuardMiddleware, count: int) -> None:
    for index in range(count):
        behaviour, client, options = BEHAVIOURS[index % len(BEHAVIOURS)]
        server = InMemoryServer(client=client, **options())
        scope = server.scope
        scope["behaviour"] = behaviour
        with contextlib.suppress(Boom):
            await guard(scope, server.receive, server.send)


def measure_growth(
    backend: str, connections: int = CONNECTIONS, warm_up: int = WARM_UP
) -> tuple[int, int]:
    """Traced bytes gained over ``connections`` connections after ``warm_up`` of them, and the
    number of close records written.

    ``python -c "from tests.robustness.test_leaks import measure_growth as m; print(m('asyncio'))"``
    """
    closed = [0]

    def count(record: CloseRecord) -> None:
        closed[0] += 1

    guard = CloseGuardMiddleware(_app(), on_close=count, exception_codes={TimeoutError: 1013})
    growth: list[int] = []

    def settle() -> None:
        gc.collect()
        if backend == "trio":
            # trio keeps the deadlines of finished cancel scopes in a heap and prunes it only
            # once it holds 1,000 more than are live: up to ~150 KB that come and go with the
            # phase of that cycle, not with the connections. Prune, so both readings start even.
            import trio

            trio.lowlevel.current_root_task()  # inside trio.run
            trio._core._run.GLOBAL_RUN_CONTEXT.runner.deadlines._prune()

    async def main() -> None:
        await _connections(guard, warm_up)  # caches, interned strings, the loop's own growth
        settle()
        before_snapshot = tracemalloc.take_snapshot()
        before = tracemalloc.get_traced_memory()[0]
        await _connections(guard, connections)
        settle()
        growth.append(tracemalloc.get_traced_memory()[0] - before)
        if growth[0] >= GROWTH_LIMIT:  # only to explain a failure: what grew, and where
            top = tracemalloc.take_snapshot().compare_to(before_snapshot, "lineno")[:10]
            raise AssertionError(
                f"{growth[0]} bytes more after {connections} connections:\n"
                + "\n".join(str(stat) for stat in top)
            )

    tracemalloc.start()
    try:
        anyio.run(main, backend=backend)
    finally:
        tracemalloc.stop()
    return growth[0], closed[0]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ten_thousand_connections_leave_no_growth(backend: str) -> None:
    growth, records = measure_growth(backend)
    assert records == WARM_UP + CONNECTIONS  # one record per connection
    assert growth < GROWTH_LIMIT, f"{growth} bytes more after {CONNECTIONS} connections"


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b[0].__name__.strip("_"))
@pytest.mark.anyio
async def test_nothing_keeps_a_finished_connections_state_alive(
    behaviour: tuple[Behaviour, list[Message], Callable[[], dict[str, Any]]],
) -> None:
    refs: list[weakref.ref[Any]] = []

    def watch(receive: Receive, send: Send) -> None:
        # The guard's closures: they hold every local of the connection's state.
        refs.extend([weakref.ref(receive), weakref.ref(send)])

    guard = CloseGuardMiddleware(_app(watch), on_close=lambda record: None)
    handler, client, options = behaviour
    server = InMemoryServer(client=client, **options())
    scope = server.scope
    scope["behaviour"] = handler
    with contextlib.suppress(Boom):
        await guard(scope, server.receive, server.send)
    del scope, server
    # The in-memory server keeps the error its send raised, and that error's traceback the
    # frames: let go of it as a real server lets go of a finished connection. A caught
    # exception's traceback and the frames form a cycle that only the collector breaks; nothing
    # else may hold the closures.
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
    assert vars(guard).keys() == {
        "app",
        "exception_closes",
        "on_close",
        "strict",
        "reraise",
        "expose_exception_text",
        "close_timeout",
        "drain",
        "refuse_with",
        "_policy",
        "_open_connections",
        # Per guard, not per connection: the accept hooks and the one installed-twice warning.
        "_open_hooks",
        "_watches_accepts",
        "_warned_twice",
    }


def test_a_clean_connection_is_freed_without_the_collector() -> None:
    # No exception anywhere: reference counting alone frees the connection's closures, so a
    # server under load with the collector lagging does not pile them up.
    refs: list[weakref.ref[Any]] = []

    def watch(receive: Receive, send: Send) -> None:
        refs.extend([weakref.ref(receive), weakref.ref(send)])

    async def main() -> None:
        guard = CloseGuardMiddleware(_app(watch))
        server = InMemoryServer(client=[CONNECT, text("hi")])
        scope = server.scope
        scope["behaviour"] = _echo_then_return
        await guard(scope, server.receive, server.send)

    gc.collect()
    gc.disable()
    try:
        anyio.run(main, backend="asyncio")
        alive = [ref() is not None for ref in refs]
    finally:
        gc.enable()
    assert alive == [False, False]
