"""Draining (``Drain``): the contract's rows, under asyncio and trio, on the in-memory server.

A drain closes every open connection behind the guard with 1012 "Service Restart", each at its
own moment over the spread, and turns away new ones with an accept and a 1012; HTTP and
lifespan are untouched. The real-server and load-balancer side is ``tests/deploy/``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from asgi_closeguard import CloseGuardMiddleware, CloseRecord, Drain, WebSocketClosedError
from asgi_closeguard._types import Message, Receive, Scope, Send
from tests.harness import CONNECT, InMemoryServer

pytestmark = pytest.mark.anyio

ACCEPT: Message = {"type": "websocket.accept"}


class Timed(InMemoryServer):
    """An in-memory server that notes when each close reached it (on the event loop's clock)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.close_times: list[float] = []

    async def send(self, message: Message) -> None:
        await super().send(message)
        if message["type"] == "websocket.close":
            self.close_times.append(anyio.current_time())


def waits_for_the_client(received: list[Message]) -> Callable[..., Awaitable[None]]:
    """An app that accepts, then reads until the connection ends; what it read goes in
    ``received``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        while True:
            message = await receive()
            received.append(message)
            if message["type"] == "websocket.disconnect":
                return

    return app


async def streams(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that only sends, never reads (a ticker): it hears of the close from send()."""
    await receive()
    await send(ACCEPT)
    while True:
        await send({"type": "websocket.send", "text": "tick"})
        await anyio.sleep(0.01)


class Serving:
    """Connections served by one guard in a task group, and what each of them left."""

    def __init__(self, app: Any, drain: Drain, **options: Any) -> None:
        self.records: list[CloseRecord] = []
        self.escaped: list[BaseException] = []
        self.guard = CloseGuardMiddleware(
            app, drain=drain, on_close=self.records.append, close_timeout=0.5, **options
        )
        self.servers: list[Timed] = []

    async def connect(self, tasks: anyio.abc.TaskGroup, **server_options: Any) -> Timed:
        server = Timed(client=(CONNECT,), **server_options)
        self.servers.append(server)

        async def serve() -> None:
            try:
                await self.guard(server.scope, server.receive, server.send)
            except Exception as exc:
                self.escaped.append(exc)

        tasks.start_soon(serve)
        with anyio.fail_after(2):
            while not server.sent:  # noqa: ASYNC110 - the accept another task sends
                await anyio.sleep(0.002)
        return server


async def test_draining_is_true_at_once_and_a_drain_of_nothing_returns_at_once() -> None:
    drain = Drain()
    assert not drain.draining
    with anyio.fail_after(1):
        await drain.start(spread=30)
    assert drain.draining
    assert drain.open_connections == 0


async def test_every_open_connection_gets_1012_each_at_its_own_moment() -> None:
    drain = Drain()
    received: list[Message] = []
    serving = Serving(waits_for_the_client(received), drain)
    spread = 0.4
    async with anyio.create_task_group() as tasks:
        servers = [await serving.connect(tasks) for _ in range(4)]
        assert drain.open_connections == 4
        started = anyio.current_time()
        with anyio.fail_after(spread + 2):
            await drain.start(spread=spread)
        returned_after = anyio.current_time() - started
    assert [server.only_close() for server in servers] == [(1012, "Service Restart")] * 4
    # Evenly spread, oldest first: the i-th close at about i * spread / 4.
    moments = [server.close_times[0] - started for server in servers]
    assert moments == sorted(moments)
    for index, moment in enumerate(moments):
        assert index * spread / 4 - 0.02 <= moment <= index * spread / 4 + 0.15, moments
    assert returned_after < spread + 0.5
    # Each app's pending receive() got the close that was sent, and each left one record.
    assert (
        received
        == [{"type": "websocket.disconnect", "code": 1012, "reason": "Service Restart"}] * 4
    )
    assert [(r.closed_by, r.code, r.accepted) for r in serving.records] == [
        ("server", 1012, True)
    ] * 4
    assert serving.escaped == []
    assert drain.open_connections == 0


async def test_a_spread_of_zero_closes_every_connection_at_once() -> None:
    drain = Drain()
    serving = Serving(waits_for_the_client([]), drain)
    async with anyio.create_task_group() as tasks:
        servers = [await serving.connect(tasks) for _ in range(3)]
        with anyio.fail_after(2):
            await drain.start(spread=0)
    assert [server.only_close()[0] for server in servers] == [1012] * 3


async def test_a_streaming_app_hears_of_the_drain_from_its_next_send_and_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drain = Drain()
    sends_refused: list[BaseException] = []

    async def ticker(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await streams(scope, receive, send)
        except WebSocketClosedError as exc:
            sends_refused.append(exc)
            raise

    serving = Serving(ticker, drain)
    with caplog.at_level(logging.DEBUG, logger="asgi_closeguard"):
        async with anyio.create_task_group() as tasks:
            (server,) = [await serving.connect(tasks)]
            with anyio.fail_after(3):
                await drain.start(spread=0)
    assert server.only_close() == (1012, "Service Restart")
    assert len(sends_refused) == 1
    # The guard's own refusal is the echo of the close, not the app's error: nothing escapes,
    # so the server logs no traceback for it.
    assert serving.escaped == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    (record,) = serving.records
    # Not the app's error either: the record names no exception, as for Starlette's echo.
    assert (record.closed_by, record.code, record.exception) == ("server", 1012, None)


async def test_a_new_websocket_while_draining_is_accepted_then_closed_with_1012() -> None:
    drain = Drain()
    await drain.start(spread=0)
    called: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    records: list[CloseRecord] = []
    guard = CloseGuardMiddleware(app, drain=drain, on_close=records.append)
    for offered, chosen in (([], None), (["chat.v2", "chat.v1"], "chat.v2")):
        server = InMemoryServer()
        scope = server.scope
        scope["subprotocols"] = offered
        with anyio.fail_after(2):
            await guard(scope, server.receive, server.send)
        accept, close = server.sent
        # Chromium fails a handshake whose answer drops a subprotocol it asked for.
        assert accept == {"type": "websocket.accept", **({"subprotocol": chosen} if chosen else {})}
        assert close == {"type": "websocket.close", "code": 1012, "reason": "Service Restart"}
    assert called == []  # never handed to the app
    assert [(r.closed_by, r.code, r.accepted, r.http_status) for r in records] == [
        ("server", 1012, True, None)
    ] * 2


async def test_a_client_gone_before_the_turn_away_accept_gets_nothing_sent_but_the_403() -> None:
    drain = Drain()
    await drain.start(spread=0)
    records: list[CloseRecord] = []
    guard = CloseGuardMiddleware(lambda *a: None, drain=drain, on_close=records.append)  # type: ignore[arg-type,return-value]
    server = InMemoryServer(client=({"type": "websocket.disconnect", "code": 1001},))
    with anyio.fail_after(2):
        await guard(server.scope, server.receive, server.send)
    assert "websocket.accept" not in server.types()
    (record,) = records
    assert not record.accepted


async def test_an_app_that_accepts_while_the_drain_runs_is_closed_at_once() -> None:
    drain = Drain()
    may_accept = anyio.Event()
    received: list[Message] = []

    async def slow_handshake(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await may_accept.wait()
        await send(ACCEPT)
        received.append(await receive())

    records: list[CloseRecord] = []
    guard = CloseGuardMiddleware(slow_handshake, drain=drain, on_close=records.append)
    server = InMemoryServer()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(guard, server.scope, server.receive, server.send)
        await anyio.sleep(0.02)
        await drain.start(spread=0)  # nothing open yet: returns at once
        may_accept.set()
    assert server.types() == ["websocket.accept", "websocket.close"]
    assert server.only_close() == (1012, "Service Restart")
    assert received == [{"type": "websocket.disconnect", "code": 1012, "reason": "Service Restart"}]
    assert records[0].closed_by == "server"


async def test_a_server_that_refuses_1012_gets_4012() -> None:
    drain = Drain()
    serving = Serving(waits_for_the_client([]), drain)
    # daphne 4.2.3 (autobahn) takes only 1000 and 3000-4999.
    refuses = {"refuses_close": lambda code: not (code == 1000 or 3000 <= code <= 4999)}
    async with anyio.create_task_group() as tasks:
        server = await serving.connect(tasks, **refuses)
        with anyio.fail_after(2):
            await drain.start(spread=0)
    assert server.only_close() == (4012, "Service Restart")
    (record,) = serving.records
    assert (record.code, record.requested_code) == (4012, 1012)


async def test_starting_again_waits_for_the_same_drain_and_closes_nothing_twice() -> None:
    drain = Drain()
    serving = Serving(waits_for_the_client([]), drain)
    ended: list[float] = []

    async def start(spread: float) -> None:
        await drain.start(spread=spread)
        ended.append(anyio.current_time())

    async with anyio.create_task_group() as tasks:
        servers = [await serving.connect(tasks) for _ in range(3)]
        with anyio.fail_after(3):
            async with anyio.create_task_group() as starters:
                starters.start_soon(start, 0.3)
                await anyio.sleep(0.05)
                starters.start_soon(start, 0)  # a second caller: the same drain, same spread
    assert [len(server.closes()) for server in servers] == [1, 1, 1]
    assert len(ended) == 2
    assert abs(ended[0] - ended[1]) < 0.1


async def test_the_drain_goes_on_when_the_caller_of_start_is_cancelled() -> None:
    drain = Drain()
    serving = Serving(waits_for_the_client([]), drain)
    async with anyio.create_task_group() as tasks:
        servers = [await serving.connect(tasks) for _ in range(3)]
        with anyio.move_on_after(0.05):
            await drain.start(spread=0.3)
        assert drain.draining
        with anyio.fail_after(2):
            await drain.start(spread=0.3)
    assert [server.only_close()[0] for server in servers] == [1012] * 3


async def test_start_returns_at_its_bound_when_a_connection_never_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drain = Drain()

    async def deaf(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await anyio.sleep_forever()  # never reads, never sends: never hears of the close

    serving = Serving(deaf, drain)
    async with anyio.create_task_group() as tasks:
        await serving.connect(tasks)
        started = anyio.current_time()
        with caplog.at_level(logging.WARNING, logger="asgi_closeguard"), anyio.fail_after(5):
            await drain.start(spread=0.1)
        waited = anyio.current_time() - started
        tasks.cancel_scope.cancel()
    # spread + close_timeout (0.5) + one second
    assert 1.5 <= waited < 2.5
    assert "still open" in caplog.text


async def test_a_close_send_that_hangs_does_not_hold_back_the_others() -> None:
    drain = Drain()
    serving = Serving(waits_for_the_client([]), drain)

    class Hangs(Timed):
        async def send(self, message: Message) -> None:
            if message["type"] == "websocket.close":
                await anyio.sleep_forever()
            await super().send(message)

    async with anyio.create_task_group() as tasks:
        hung = Hangs(client=(CONNECT,))
        serving.servers.append(hung)
        tasks.start_soon(serving.guard, hung.scope, hung.receive, hung.send)
        await anyio.sleep(0.02)
        healthy = await serving.connect(tasks)
        with anyio.fail_after(5):
            await drain.start(spread=0)
        assert healthy.only_close()[0] == 1012
        tasks.cancel_scope.cancel()


async def test_http_and_lifespan_pass_untouched_while_draining() -> None:
    drain = Drain()
    await drain.start(spread=0)
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    guard = CloseGuardMiddleware(app, drain=drain)

    async def nothing() -> Message:
        return {}

    async def ignore(message: Message) -> None:
        pass

    await guard({"type": "http"}, nothing, ignore)
    await guard({"type": "lifespan"}, nothing, ignore)
    assert seen == ["http", "lifespan"]


async def test_one_drain_covers_every_guard_it_was_given_to() -> None:
    drain = Drain()
    first, second = (
        Serving(waits_for_the_client([]), drain),
        Serving(waits_for_the_client([]), drain),
    )
    async with anyio.create_task_group() as tasks:
        servers = [await first.connect(tasks), await second.connect(tasks)]
        with anyio.fail_after(2):
            await drain.start(spread=0)
    assert [server.only_close()[0] for server in servers] == [1012, 1012]


async def test_a_connection_the_app_closed_itself_is_not_closed_again() -> None:
    drain = Drain()

    async def closes_then_lingers(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await send({"type": "websocket.close", "code": 4000, "reason": "bye"})
        await anyio.sleep(0.2)

    serving = Serving(closes_then_lingers, drain)
    async with anyio.create_task_group() as tasks:
        server = await serving.connect(tasks)
        await anyio.sleep(0.02)
        with anyio.fail_after(2):
            await drain.start(spread=0)
    assert server.only_close() == (4000, "bye")


@pytest.mark.parametrize(
    ("spread", "error"),
    [
        (-1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        ("10", TypeError),
        (None, TypeError),
        (True, TypeError),
    ],
)
async def test_a_bad_spread_is_a_clear_error(spread: Any, error: type[Exception]) -> None:
    drain = Drain()
    with pytest.raises(error, match="spread must be a number of seconds"):
        await drain.start(spread=spread)
    assert not drain.draining


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("drain", ["yes", Drain, object()])
def test_a_drain_that_is_not_a_drain_is_a_type_error(drain: Any, anyio_backend: str) -> None:
    with pytest.raises(TypeError, match=r"drain must be a Drain \(drain = Drain\(\)"):
        CloseGuardMiddleware(lambda *a: None, drain=drain)  # type: ignore[arg-type]


async def test_a_connection_that_ends_before_its_turn_is_skipped() -> None:
    drain = Drain()

    async def leaves_soon(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await anyio.sleep(0.05)
        await send({"type": "websocket.close", "code": 1000, "reason": ""})

    staying, leaving = Serving(waits_for_the_client([]), drain), Serving(leaves_soon, drain)
    async with anyio.create_task_group() as tasks:
        first = await staying.connect(tasks)
        second = await leaving.connect(tasks)
        third = await staying.connect(tasks)
        with anyio.fail_after(2):
            await drain.start(spread=0.45)  # the second's turn comes at 0.15 s: it is gone
    assert [first.only_close()[0], third.only_close()[0]] == [1012, 1012]
    assert second.only_close() == (1000, "")


async def test_once_every_connection_has_ended_the_drain_stops_early() -> None:
    drain = Drain()

    async def leaves_soon(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await anyio.sleep(0.05)

    serving = Serving(leaves_soon, drain)
    async with anyio.create_task_group() as tasks:
        servers = [await serving.connect(tasks) for _ in range(2)]
        started = anyio.current_time()
        with anyio.fail_after(2):
            await drain.start(spread=10)  # the second's turn would come at 5 s
        assert anyio.current_time() - started < 1
        await anyio.sleep(0.1)  # the drain's own task has returned: nothing keeps the loop
    assert [server.only_close()[0] for server in servers] == [1012, 1000]
