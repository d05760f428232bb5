"""The edges of a connection's life: a cancellation at every await of the guard, reads in
flight, shutdowns, abandoned apps. Under asyncio and trio (anyio's cancel scopes), and with
asyncio's one-shot ``Task.cancel()`` as hypercorn and daphne deliver it.

The promises checked at every await point:

- the app's own exception escapes (never the cancellation) when the guard was closing for it;
- nothing waits after a cancellation: the guard's call ends at once (``close_timeout`` is 5 s
  here; the shielded 1012 close of a shutdown is bounded by 0.25 s);
- exactly one record.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from anyio.abc import TaskGroup

from asgi_closeguard import CloseGuardMiddleware, CloseRecord, Drain
from asgi_closeguard._concurrency import cancel_requested, is_cancellation
from asgi_closeguard._types import Message, Receive, Scope, Send
from tests.harness import CONNECT, InMemoryServer, disconnect

pytestmark = pytest.mark.anyio

ACCEPT: Message = {"type": "websocket.accept"}
CLOSE_TIMEOUT = 5.0
#: Far below CLOSE_TIMEOUT: the guard did not wait for the client after the cancellation.
PROMPTLY = 1.0


def close(code: int, reason: str = "") -> Message:
    return {"type": "websocket.close", "code": code, "reason": reason}


class Boom(Exception):
    pass


@dataclass
class StallingServer(InMemoryServer):
    """An in-memory server that stalls for good at one chosen await, and says when it got there.

    ``stall_send`` picks the outgoing message whose send never completes; ``receive()`` stalls
    once the scripted client runs out (the client never answers a close).
    """

    stall_send: Callable[[Message], bool] = field(default=lambda message: False)
    answers_close: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.stalled = anyio.Event()
        self.attempted: list[Message] = []

    async def send(self, message: Message) -> None:
        if self.stall_send(message):
            self.attempted.append(message)
            self.stalled.set()
            await anyio.sleep_forever()
        await super().send(message)

    async def receive(self) -> Message:
        if not self._inbox:
            self.stalled.set()
        return await super().receive()


def stall_on(kind: str, code: int | None = None) -> Callable[[Message], bool]:
    return lambda m: m["type"] == kind and (code is None or m.get("code") == code)


# Apps, each reaching one await of the guard and staying there.
async def accept_then_receive(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    await receive()


async def accept_then_send(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    await send({"type": "websocket.send", "text": "hi"})


async def just_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)


async def start_a_denial(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.http.response.start", "status": 401, "headers": []})


async def accept_then_close(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    await send(close(4000, "why"))


async def accept_then_crash(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    raise Boom("secret")


async def crash_before_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    raise Boom("secret")


async def close_before_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(close(4401, "login required"))


async def return_before_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()


async def close_without_reading_the_handshake(scope: Scope, receive: Receive, send: Send) -> None:
    # Starlette's close() before accept: the guard reads the connect before its own accept.
    await send(close(4401, "login required"))


@dataclass(frozen=True)
class AwaitPoint:
    """One await of the guard, how to reach it, and what must come out of a cancellation there."""

    name: str
    app: Callable[[Scope, Receive, Send], Awaitable[None]]
    stall_send: Callable[[Message], bool]
    escapes: type[Exception] | None  # the app's exception, or None: the cancellation ends it
    closed_by: str
    code: int | None
    #: The close the guard sends after the cancellation (1012 at a shutdown), if any.
    then_sent: Message | None = None
    #: The connection arrives while a drain runs: the guard turns it away itself.
    while_draining: bool = False
    #: A refusal before accept is answered with the guard's accept and a close.
    refuse_with_close: bool = False
    #: What the client sends (nothing: the server's receive() stalls at once).
    client: tuple[Message, ...] = (CONNECT,)

    async def guard_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"refuse_with": "close"} if self.refuse_with_close else {}
        if self.while_draining:
            drain = Drain()
            await drain.start(spread=0)
            options["drain"] = drain
        return options


def never(message: Message) -> bool:
    return False


#: Every await the guard makes (see CloseGuardMiddleware.__call__'s docstring).
AWAIT_POINTS = [
    AwaitPoint("the app's receive", accept_then_receive, never, None, "server", 1012,
               close(1012, "Service Restart")),
    AwaitPoint("the app's send", accept_then_send, stall_on("websocket.send"), None, "server",
               1012, close(1012, "Service Restart")),
    AwaitPoint("the app's accept", just_accept, stall_on("websocket.accept"), None, "server",
               None),
    AwaitPoint("the app's denial response", start_a_denial,
               stall_on("websocket.http.response.start"), None, "server", None),
    AwaitPoint("the app's close", accept_then_close, stall_on("websocket.close"), None, "app",
               4000),
    AwaitPoint("the guard's close after a return", just_accept, stall_on("websocket.close"),
               None, "guard", 1000),
    AwaitPoint("the wait after the app's close", accept_then_close, never, None, "app", 4000),
    AwaitPoint("the guard's close after a crash", accept_then_crash,
               stall_on("websocket.close"), Boom, "guard", 1011),
    AwaitPoint("the wait after a crash", accept_then_crash, never, Boom, "guard", 1011),
    AwaitPoint("the HTTP 500 after a crash before accept", crash_before_accept,
               stall_on("websocket.http.response.start"), Boom, "guard", None),
    AwaitPoint("the 1012 close at a shutdown", accept_then_receive,
               stall_on("websocket.close", 1012), None, "server", 1012),
    AwaitPoint("the accept of a connection turned away by a drain", accept_then_receive,
               stall_on("websocket.accept"), None, "server", None, while_draining=True),
    AwaitPoint("the 1012 close of a connection turned away by a drain", accept_then_receive,
               stall_on("websocket.close", 1012), None, "server", 1012, while_draining=True),
    AwaitPoint("the wait after a drain's 1012", accept_then_receive, never, None, "server",
               1012, while_draining=True),
    # refuse_with="close": the guard's accept, its close, and the wait for the client's close,
    # after each of the three refusals before accept.
    AwaitPoint("the read of the handshake before a refusal's accept",
               close_without_reading_the_handshake, never, None, "app", 4401,
               refuse_with_close=True, client=()),
    AwaitPoint("the accept of a refusal after the app's close", close_before_accept,
               stall_on("websocket.accept"), None, "app", 4401, refuse_with_close=True),
    AwaitPoint("the close of a refusal after the app's close", close_before_accept,
               stall_on("websocket.close"), None, "app", 4401, refuse_with_close=True),
    AwaitPoint("the wait after a refusal's close for the app", close_before_accept, never, None,
               "app", 4401, refuse_with_close=True),
    AwaitPoint("the accept of a refusal after a return", return_before_accept,
               stall_on("websocket.accept"), None, "guard", 1008, refuse_with_close=True),
    AwaitPoint("the close of a refusal after a return", return_before_accept,
               stall_on("websocket.close"), None, "guard", 1008, refuse_with_close=True),
    AwaitPoint("the wait after a refusal's close for a return", return_before_accept, never,
               None, "guard", 1008, refuse_with_close=True),
    AwaitPoint("the accept of a refusal after a crash", crash_before_accept,
               stall_on("websocket.accept"), Boom, "guard", 1011, refuse_with_close=True),
    AwaitPoint("the close of a refusal after a crash", crash_before_accept,
               stall_on("websocket.close"), Boom, "guard", 1011, refuse_with_close=True),
    AwaitPoint("the wait after a refusal's close for a crash", crash_before_accept, never, Boom,
               "guard", 1011, refuse_with_close=True),
]  # fmt: skip


def point_named(name: str) -> AwaitPoint:
    (point,) = [point for point in AWAIT_POINTS if point.name == name]
    return point


@dataclass
class Cancelled:
    escaped: Exception | None
    seconds_after_cancel: float
    records: list[CloseRecord]
    server: StallingServer


async def cancel_in_scope(point: AwaitPoint, **options: Any) -> Cancelled:
    """Run the guarded app in an anyio cancel scope and cancel it at the point's await."""
    records: list[CloseRecord] = []
    guard = CloseGuardMiddleware(
        point.app,
        on_close=records.append,
        close_timeout=CLOSE_TIMEOUT,
        **options,
        **await point.guard_options(),
    )
    server = StallingServer(client=point.client, stall_send=point.stall_send)
    escaped: Exception | None = None
    cancelled_at = [0.0]
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            with anyio.CancelScope() as scope:

                async def cancel_when_stalled() -> None:
                    await server.stalled.wait()
                    await anyio.sleep(0.01)  # let the guard settle into the await
                    cancelled_at[0] = anyio.current_time()
                    scope.cancel()

                tasks.start_soon(cancel_when_stalled)
                try:
                    await guard(server.scope, server.receive, server.send)
                except Exception as exc:
                    escaped = exc
            ended_at = anyio.current_time()
            tasks.cancel_scope.cancel()
    return Cancelled(escaped, ended_at - cancelled_at[0], records, server)


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - a list another task appends to
            await anyio.sleep(0.005)


def check_promises(point: AwaitPoint, outcome: Cancelled) -> None:
    if point.escapes is None:
        assert outcome.escaped is None, f"{outcome.escaped!r} escaped"
    else:
        assert type(outcome.escaped) is point.escapes  # the app's own, never the cancellation
    assert outcome.seconds_after_cancel < PROMPTLY, "the guard waited after the cancellation"
    (record,) = outcome.records
    assert (record.closed_by, record.code) == (point.closed_by, point.code)


@pytest.mark.parametrize("point", AWAIT_POINTS, ids=lambda p: p.name)
async def test_a_cancellation_at_every_await_keeps_every_promise(point: AwaitPoint) -> None:
    outcome = await cancel_in_scope(point)
    check_promises(point, outcome)
    if point.then_sent is not None:
        # Under asyncio the shielded close runs as a task of its own: it may end just after.
        await until(lambda: point.then_sent in outcome.server.sent)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("point", AWAIT_POINTS, ids=lambda p: p.name)
async def test_a_one_shot_task_cancel_at_every_await_keeps_every_promise(
    point: AwaitPoint, anyio_backend: str
) -> None:
    # hypercorn and daphne cancel the app's task once (Task.cancel()), outside any cancel
    # scope: the guard's close after it runs unhindered, but must still be prompt.
    records: list[CloseRecord] = []
    guard = CloseGuardMiddleware(
        point.app,
        on_close=records.append,
        close_timeout=CLOSE_TIMEOUT,
        **await point.guard_options(),
    )
    server = StallingServer(client=point.client, stall_send=point.stall_send)
    task = asyncio.ensure_future(guard(server.scope, server.receive, server.send))
    with anyio.fail_after(10):
        await server.stalled.wait()
        await asyncio.sleep(0.01)
        task.cancel()
        cancelled_at = anyio.current_time()
        escaped: Exception | None = None
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            escaped = exc
    outcome = Cancelled(escaped, anyio.current_time() - cancelled_at, records, server)
    check_promises(point, outcome)
    if point.then_sent is not None:
        assert point.then_sent in server.sent


async def test_the_shutdown_close_never_holds_the_task_past_its_bound() -> None:
    # The 1012 send itself hangs (granian can hang a send at shutdown): the task still ends.
    point = point_named("the 1012 close at a shutdown")
    outcome = await cancel_in_scope(point)
    assert outcome.seconds_after_cancel < 0.5
    assert outcome.server.attempted == [close(1012, "Service Restart")]


async def test_without_reraise_a_cancellation_during_the_crash_close_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # reraise=False: the app's exception is logged, and the cancellation is not swallowed.
    point = point_named("the guard's close after a crash")
    outcome = await cancel_in_scope(point, reraise=False)
    assert outcome.escaped is None
    assert outcome.seconds_after_cancel < PROMPTLY
    assert len(outcome.records) == 1
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.exc_info[1].__class__ for r in logged if r.exc_info] == [Boom]


async def test_a_keyboard_interrupt_during_the_crash_close_propagates() -> None:
    records: list[CloseRecord] = []
    server = InMemoryServer(send_error=KeyboardInterrupt(), fail_sends_after=1)
    guard = CloseGuardMiddleware(accept_then_crash, on_close=records.append)
    with pytest.raises(KeyboardInterrupt):
        await guard(server.scope, server.receive, server.send)
    assert len(records) == 1


async def test_a_cancellation_during_an_async_on_close_never_replaces_the_apps_exception() -> None:
    calls: list[CloseRecord] = []
    entered = anyio.Event()

    async def slow_on_close(record: CloseRecord) -> None:
        calls.append(record)
        entered.set()
        await anyio.sleep_forever()

    guard = CloseGuardMiddleware(accept_then_crash, on_close=slow_on_close, close_timeout=0)
    server = InMemoryServer()
    escaped: Exception | None = None
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            with anyio.CancelScope() as scope:

                async def cancel_when_entered() -> None:
                    await entered.wait()
                    scope.cancel()

                tasks.start_soon(cancel_when_entered)
                try:
                    await guard(server.scope, server.receive, server.send)
                except Exception as exc:
                    escaped = exc
            tasks.cancel_scope.cancel()
    assert type(escaped) is Boom
    assert len(calls) == 1


# --- A cancellation the app swallows -------------------------------------------------------


async def swallows_cancellation(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    try:
        await receive()
    except anyio.get_cancelled_exc_class():
        return  # a handler that catches everything, cancellation included


async def test_a_swallowed_cancellation_is_still_a_shutdown(anyio_backend: str) -> None:
    point = AwaitPoint("swallowed", swallows_cancellation, never, None, "server", 1012)
    outcome = await cancel_in_scope(point)
    (record,) = outcome.records
    if anyio_backend == "asyncio" and sys.version_info < (3, 11):
        # No Task.cancelling() before 3.11: the guard cannot tell, closes as for a return,
        # and that close is cancelled by the scope.
        assert record.closed_by == "guard"
        return
    check_promises(point, outcome)
    await until(lambda: close(1012, "Service Restart") in outcome.server.sent)


# --- on_close under a cancellation ---------------------------------------------------------


async def test_an_async_on_close_interrupted_by_a_cancellation_was_called_once() -> None:
    calls: list[CloseRecord] = []
    entered = anyio.Event()

    async def slow_on_close(record: CloseRecord) -> None:
        calls.append(record)
        entered.set()
        await anyio.sleep_forever()

    guard = CloseGuardMiddleware(accept_then_close, on_close=slow_on_close, close_timeout=0)
    server = InMemoryServer()
    with anyio.fail_after(5), anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tasks:

            async def cancel_when_entered() -> None:
                await entered.wait()
                scope.cancel()

            tasks.start_soon(cancel_when_entered)
            await guard(server.scope, server.receive, server.send)
    assert len(calls) == 1


async def test_after_a_cancellation_an_async_on_close_runs_detached() -> None:
    # The record still arrives, and the cancelled task does not wait for the callback.
    delivered = anyio.Event()
    calls: list[CloseRecord] = []

    async def on_close(record: CloseRecord) -> None:
        await anyio.sleep(0.05)
        calls.append(record)
        delivered.set()

    async def failing_on_close(record: CloseRecord) -> None:
        raise RuntimeError("broken callback")

    guard = CloseGuardMiddleware(
        accept_then_receive, on_close=[on_close, failing_on_close], close_timeout=CLOSE_TIMEOUT
    )
    server = StallingServer(client=(CONNECT,))
    with anyio.fail_after(5):
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tasks:

                async def cancel_when_stalled() -> None:
                    await server.stalled.wait()
                    scope.cancel()

                tasks.start_soon(cancel_when_stalled)
                await guard(server.scope, server.receive, server.send)
        assert calls == []  # not waited for
        await delivered.wait()
    assert [record.closed_by for record in calls] == ["server"]


# --- A receive() in flight in another task -------------------------------------------------


class WireServer:
    """A server whose receive() waits on a queue, as real servers do, and whose client answers
    a close frame with its own close (reported as 1005, as uvicorn's sansio does)."""

    def __init__(self, *, answers: bool = True) -> None:
        self.inbox, self.outbox = anyio.create_memory_object_stream[Message](10)
        self.inbox.send_nowait(CONNECT)
        self.sent: list[Message] = []
        self.answers = answers
        self.scope: Scope = {"type": "websocket", "path": "/ws", "extensions": {}}
        self.reads = 0
        self.second_read_waits = anyio.Event()  # the first read is the handshake's connect

    async def receive(self) -> Message:
        self.reads += 1
        if self.reads == 2:
            self.second_read_waits.set()
        return await self.outbox.receive()

    async def send(self, message: Message) -> None:
        await anyio.lowlevel.checkpoint()
        self.sent.append(message)
        if message["type"] == "websocket.close" and self.answers:
            self.inbox.send_nowait(disconnect(1005, ""))


def leaves_a_read_in_flight(
    tasks: TaskGroup, server: WireServer, read: list[Message], close_with: Message
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An app that starts a reader in ``tasks`` (outliving the app, as engine.io's does), waits
    until that reader waits in receive(), closes with ``close_with`` and returns."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)

        async def reader() -> None:
            read.append(await receive())

        tasks.start_soon(reader)
        await server.second_read_waits.wait()
        await send(close_with)

    return app


async def test_a_read_in_flight_gets_the_close_that_was_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Quart, Falcon, engine.io and Channels' channel layers keep a receive() pending in
    # another task: the disconnect it then gets answers the app's own close.
    caplog.set_level(logging.DEBUG, logger="asgi_closeguard")
    records: list[CloseRecord] = []
    read: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        async with anyio.create_task_group() as tasks:

            async def reader() -> None:
                read.append(await receive())

            tasks.start_soon(reader)
            await server.second_read_waits.wait()  # the reader is now waiting in receive()
            await send(close(4000, "why"))

    server = WireServer()
    guard = CloseGuardMiddleware(app, on_close=records.append, close_timeout=CLOSE_TIMEOUT)
    with anyio.fail_after(PROMPTLY):
        await guard(server.scope, server.receive, server.send)
    assert read == [disconnect(4000, "why")]
    (record,) = records
    assert (record.closed_by, record.code, record.reason) == ("app", 4000, "why")
    assert not [r for r in caplog.records if "did not answer" in r.getMessage()]


async def test_the_close_wait_waits_for_a_read_left_in_flight() -> None:
    # The app returns while its reader task still waits in receive(): the guard waits for the
    # client's close to reach that read, instead of reading beside it.
    records: list[CloseRecord] = []
    read: list[Message] = []
    server = WireServer()
    async with anyio.create_task_group() as outside:
        app = leaves_a_read_in_flight(outside, server, read, close(4000, "why"))
        guard = CloseGuardMiddleware(app, on_close=records.append, close_timeout=CLOSE_TIMEOUT)
        with anyio.fail_after(PROMPTLY):
            await guard(server.scope, server.receive, server.send)
    assert read == [disconnect(4000, "why")]
    assert [(r.closed_by, r.code) for r in records] == [("app", 4000)]


async def test_a_cancellation_while_waiting_for_a_read_in_flight_propagates_at_once() -> None:
    # The last await of the guard: waiting for a read left in flight to bring the client's
    # close. A cancellation there ends the wait at once, with one record.
    records: list[CloseRecord] = []
    server = WireServer(answers=False)
    cancelled_at = [0.0]

    async with anyio.create_task_group() as outside:
        app = leaves_a_read_in_flight(outside, server, [], close(4000))
        guard = CloseGuardMiddleware(app, on_close=records.append, close_timeout=CLOSE_TIMEOUT)
        with anyio.fail_after(5), anyio.CancelScope() as scope:

            async def cancel_when_waiting() -> None:
                await until(lambda: close(4000) in server.sent)
                await anyio.sleep(0.05)  # the guard is now waiting for the reader
                cancelled_at[0] = anyio.current_time()
                scope.cancel()

            outside.start_soon(cancel_when_waiting)
            await guard(server.scope, server.receive, server.send)
        assert anyio.current_time() - cancelled_at[0] < PROMPTLY
        outside.cancel_scope.cancel()
    assert [(r.closed_by, r.code) for r in records] == [("app", 4000)]


async def test_a_read_in_flight_gets_what_the_client_sent_before_it_saw_the_close() -> None:
    # A message the client sent before our close reached it still goes to the read that was
    # waiting; the next receive() reports the close that was sent, at once.
    read: list[Message] = []
    server = WireServer(answers=False)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        async with anyio.create_task_group() as tasks:

            async def reader() -> None:
                read.append(await receive())
                read.append(await receive())

            tasks.start_soon(reader)
            await server.second_read_waits.wait()
            await send(close(4000))
            server.inbox.send_nowait({"type": "websocket.receive", "text": "late"})
        server.inbox.send_nowait(disconnect(1000, ""))  # the client's answer, for the wait

    with anyio.fail_after(PROMPTLY):
        await CloseGuardMiddleware(app)(server.scope, server.receive, server.send)
    assert read == [{"type": "websocket.receive", "text": "late"}, disconnect(4000, "")]


async def test_a_read_left_in_flight_that_never_hears_back_is_waited_for_a_bounded_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asgi_closeguard")
    server = WireServer(answers=False)
    async with anyio.create_task_group() as outside:
        app = leaves_a_read_in_flight(outside, server, [], close(4000))
        with anyio.fail_after(2):
            await CloseGuardMiddleware(app, close_timeout=0.05)(
                server.scope, server.receive, server.send
            )
        outside.cancel_scope.cancel()
    assert [r for r in caplog.records if "did not answer" in r.getMessage()]


# --- Abandoned at shutdown: the record at the lifespan shutdown ----------------------------


async def test_a_connection_the_server_abandons_is_reported_at_the_lifespan_shutdown() -> None:
    # granian drops the sockets at shutdown and never resumes the handlers.
    records: list[CloseRecord] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].removeprefix("lifespan.")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        await accept_then_send(scope, receive, send)

    guard = CloseGuardMiddleware(app, on_close=records.append)
    server = StallingServer(client=(CONNECT,), stall_send=stall_on("websocket.send"))
    lifespan = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def lifespan_receive() -> Message:
        return lifespan.pop(0)

    async def lifespan_send(message: Message) -> None:
        pass

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(guard, server.scope, server.receive, server.send)
            await server.stalled.wait()
            await guard({"type": "lifespan"}, lifespan_receive, lifespan_send)
            assert [(r.closed_by, r.code, r.messages_sent) for r in records] == [
                ("server", None, 1)
            ]
            tasks.cancel_scope.cancel()  # the abandoned handler, if it ever ends: no 2nd record
    assert len(records) == 1


async def test_without_on_close_the_lifespan_passes_straight_through() -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(receive)

    async def receive() -> Message:
        return {}  # pragma: no cover

    await CloseGuardMiddleware(app)({"type": "lifespan"}, receive, receive)
    assert seen == [receive]


# --- The async-library helpers -------------------------------------------------------------


def test_cancel_requested_outside_any_event_loop_is_false() -> None:
    assert cancel_requested() is False


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (asyncio.CancelledError(), True),
        (KeyboardInterrupt(), False),
        (SystemExit(), False),
        (Boom(), False),
    ],
)
def test_is_cancellation(exc: BaseException, expected: bool) -> None:
    assert is_cancellation(exc) is expected


def test_trio_cancelled_is_a_cancellation() -> None:
    import trio

    caught: list[BaseException] = []

    async def main() -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            try:
                await trio.lowlevel.checkpoint()
            except trio.Cancelled as exc:
                caught.append(exc)
                raise

    trio.run(main)
    assert [is_cancellation(exc) for exc in caught] == [True]
