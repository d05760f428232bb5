"""Every row of the close contract, on the in-memory server, under asyncio and trio."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from starlette.exceptions import WebSocketException
from starlette.websockets import WebSocketDisconnect

from asgi_closeguard import (
    CloseCode,
    CloseGuardMiddleware,
    CloseRecord,
    ForbiddenCloseCodeError,
    WebSocketClosedError,
    is_sendable,
)
from asgi_closeguard._types import Message, Receive, Scope, Send
from tests.harness import (
    CONNECT,
    DENIAL_EXTENSION,
    InMemoryServer,
    ServerRefused,
    Step,
    disconnect,
    play,
    run,
    text,
)

pytestmark = pytest.mark.anyio

ACCEPT: Message = {"type": "websocket.accept"}


def script(*steps: Step) -> Callable[[Scope, Receive, Send], Any]:
    """A WebSocket app that receives the connect, then sends, runs or raises each step."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await play(steps, receive, send)

    return app


def close(code: object = 1000, reason: object = "") -> Message:
    return {"type": "websocket.close", "code": code, "reason": reason}


def guarded(app: Any, records: list[CloseRecord] | None = None, **options: Any) -> Any:
    if records is not None:
        options["on_close"] = records.append
    return CloseGuardMiddleware(app, **options)


# --- The app sends websocket.close -------------------------------------------------------

# (what the app sends, (code, reason) that reaches the server, code recorded as replaced)
OUTGOING_CLOSE_TABLE = [
    ({"type": "websocket.close"}, (1000, ""), None),
    (close(None), (1000, ""), None),
    (close(1000, "why"), (1000, "why"), None),
    (close(1001, "why"), (1001, "why"), None),
    (close(1011, "why"), (1011, "why"), None),
    (close(3000), (3000, ""), None),
    (close(4999, "x"), (4999, "x"), None),
    (close(CloseCode.TRY_AGAIN_LATER), (1013, ""), None),
    (close(1005, "why"), (1000, "why"), 1005),
    (close(1006, "why"), (1011, "why"), 1006),
    (close(1015, "why"), (1011, "why"), 1015),
    (close(1004), (1011, ""), 1004),
    (close(1016), (1011, ""), 1016),
    (close(2999), (1011, ""), 2999),
    (close(999), (1011, ""), 999),
    (close(0), (1011, ""), 0),
    (close(-1), (1011, ""), -1),
    (close(5000), (1011, ""), 5000),
    (close(65536), (1011, ""), 65536),
    (close(True), (1011, ""), True),
    (close("1000"), (1011, ""), "1000"),
    (close(1000.0), (1011, ""), 1000.0),
    (close(1000, None), (1000, ""), None),
    ({"type": "websocket.close", "code": 1000}, (1000, ""), None),
    (close(1008, [{"msg": "Field required"}]), (1008, '[{"msg":"Field required"}]'), None),
    (close(4000, "x" * 150), (4000, "x" * 120 + "…"), None),
    (close(4000, "a\ud800"), (4000, "a\ufffd"), None),
]


@pytest.mark.parametrize(("message", "on_wire", "replaced"), OUTGOING_CLOSE_TABLE)
async def test_outgoing_close(
    message: Message, on_wire: tuple[int, str], replaced: object, caplog: pytest.LogCaptureFixture
) -> None:
    records: list[CloseRecord] = []
    with caplog.at_level(logging.WARNING, logger="asgi_closeguard"):
        outcome = await run(guarded(script(ACCEPT, message), records))
    assert outcome.exception is None
    assert outcome.server.only_close() == on_wire
    assert type(outcome.server.closes()[0]["code"]) is int
    record = outcome.record
    assert (record.closed_by, record.code, record.reason) == ("app", *on_wire)
    assert record.requested_code == replaced
    warnings = [r for r in caplog.records if r.name == "asgi_closeguard"]
    assert len(warnings) == (0 if replaced is None else 1)


@pytest.mark.parametrize("code", [1005, 1006, 1015, 1004, 999, 5000, True, "1000", 1000.5])
async def test_strict_refuses_and_keeps_the_connection_usable(code: object) -> None:
    seen: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        try:
            await send(close(code))
        except ForbiddenCloseCodeError as exc:
            seen.append(exc)
        await send({"type": "websocket.send", "text": "still open"})
        await send(close(4000, "second try"))

    outcome = await run(guarded(app, strict=True))
    (error,) = seen
    assert isinstance(error, ValueError)
    assert error.code == code  # type: ignore[attr-defined]
    assert repr(code) in str(error)
    assert "1000" in str(error)
    assert outcome.server.types() == ["websocket.accept", "websocket.send", "websocket.close"]
    assert outcome.server.only_close() == (4000, "second try")


async def test_strict_accepts_allowed_codes() -> None:
    outcome = await run(guarded(script(ACCEPT, close(None), close(1005)), strict=True))
    assert outcome.server.only_close() == (1000, "")


async def test_close_before_accept_is_passed_on_as_403() -> None:
    records: list[CloseRecord] = []
    outcome = await run(guarded(script(close(1000, "no")), records))
    assert outcome.server.sent == [close(1000, "no")]
    record = outcome.record
    assert (record.accepted, record.http_status, record.code, record.closed_by) == (
        False,
        403,
        None,
        "app",
    )


async def test_second_close_is_dropped() -> None:
    outcome = await run(guarded(script(ACCEPT, close(4000), close(4001), close(None))))
    assert outcome.exception is None
    assert outcome.server.only_close() == (4000, "")


# --- Sends after the connection ended ----------------------------------------------------


def send_text(data: str = "hi") -> Message:
    return {"type": "websocket.send", "text": data}


@pytest.mark.parametrize(
    ("steps", "client", "server_options", "reason_mentions"),
    [
        pytest.param(
            [ACCEPT, close(4000)], [CONNECT], {}, "closed with code 4000", id="after-close"
        ),
        pytest.param(
            [ACCEPT, "receive"],
            [CONNECT, disconnect(4001, "bye")],
            {},
            "client disconnected with code 4001",
            id="after-client-disconnect",
        ),
        pytest.param(
            [ACCEPT, "send"],
            [CONNECT],
            {"send_error": ConnectionResetError("peer gone"), "fail_sends_after": 1},
            "server ended the connection",
            id="after-send-failed",
        ),
        pytest.param([close(1000)], [CONNECT], {}, "answered with HTTP", id="after-403"),
    ],
)
async def test_send_after_the_end_raises_one_oserror(
    steps: list[Any], client: list[Message], server_options: dict[str, Any], reason_mentions: str
) -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        for step in steps:
            if step == "receive":
                await receive()
            elif step == "send":
                # The failing send raises the server's own exception, unchanged (ASGI 2.4).
                with pytest.raises(ConnectionResetError, match="peer gone"):
                    await send(send_text())
            else:
                await send(step)
        for message in (send_text(), {"type": "websocket.accept"}):
            try:
                await send(message)
            except OSError as exc:
                errors.append(exc)

    outcome = await run(guarded(app), *client, **server_options)
    assert len(errors) == 2
    assert all(type(error) is WebSocketClosedError for error in errors)
    assert reason_mentions in str(errors[0])
    assert outcome.server.types().count("websocket.send") == 0


async def test_starlette_turns_the_oserror_into_websocket_disconnect() -> None:
    from starlette.websockets import WebSocket

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        await websocket.receive_text()
        with pytest.raises(WebSocketDisconnect) as caught:
            await websocket.send_text("too late")
        assert caught.value.code == 1006

    outcome = await run(
        guarded(app),
        CONNECT,
        text("hi"),
        send_error=BrokenPipeError(),
        fail_sends_after=1,
    )
    assert outcome.exception is None


# --- The app raises ----------------------------------------------------------------------


class Boom(Exception):
    pass


SECRET = "password=hunter2"


async def test_raise_after_accept_closes_1011_and_reraises() -> None:
    records: list[CloseRecord] = []
    outcome = await run(guarded(script(ACCEPT, Boom(SECRET)), records))
    assert isinstance(outcome.exception, Boom)
    assert outcome.server.only_close() == (1011, "Internal Error")
    assert SECRET not in repr(outcome.server.sent)
    record = outcome.record
    assert (record.closed_by, record.code, record.exception, record.accepted) == (
        "guard",
        1011,
        Boom,
        True,
    )


class Timeout(TimeoutError):
    pass


# (exception_codes, exception raised, (code, reason) on the wire)
MAPPED_TABLE = [
    ({TimeoutError: 1013}, TimeoutError(), (1013, "Try Again Later")),
    ({TimeoutError: 1013}, Timeout(), (1013, "Try Again Later")),
    ({TimeoutError: 1013, Timeout: 4008}, Timeout(), (4008, "")),
    ({OSError: 1014, TimeoutError: 1013}, Timeout(), (1013, "Try Again Later")),
    ({PermissionError: (1008, "Forbidden")}, PermissionError(SECRET), (1008, "Forbidden")),
    ({Exception: 4000}, Boom(), (4000, "")),
    ({PermissionError: 1008}, Boom(SECRET), (1011, "Internal Error")),
    ({ValueError: CloseCode.UNSUPPORTED_DATA}, ValueError(), (1003, "Unsupported Data")),
]


@pytest.mark.parametrize(("mapping", "exception", "on_wire"), MAPPED_TABLE)
async def test_exception_codes_follow_the_mro(
    mapping: dict[type[BaseException], Any], exception: Exception, on_wire: tuple[int, str]
) -> None:
    outcome = await run(guarded(script(ACCEPT, exception), exception_codes=mapping))
    assert outcome.exception is exception
    assert outcome.server.only_close() == on_wire


@pytest.mark.parametrize(
    ("exception", "on_wire", "requested"),
    [
        (WebSocketException(4401, "token expired"), (4401, "token expired"), None),
        (WebSocketException(1008), (1008, ""), None),
        (WebSocketException(1006, "gone"), (1011, "gone"), 1006),
    ],
)
async def test_starlette_websocket_exception_keeps_its_close(
    exception: Exception, on_wire: tuple[int, str], requested: object
) -> None:
    records: list[CloseRecord] = []
    outcome = await run(
        guarded(script(ACCEPT, exception), records, exception_codes={Exception: 4000})
    )
    assert outcome.server.only_close() == on_wire
    assert outcome.record.requested_code == requested


async def test_expose_exception_text_is_opt_in() -> None:
    outcome = await run(guarded(script(ACCEPT, Boom("x" * 300)), expose_exception_text=True))
    code, reason = outcome.server.only_close()
    assert code == 1011
    assert reason.startswith("Boom: xxx")
    assert len(reason.encode()) <= 123


async def test_reraise_false_logs_once_and_returns(caplog: pytest.LogCaptureFixture) -> None:
    records: list[CloseRecord] = []
    with caplog.at_level(logging.DEBUG, logger="asgi_closeguard"):
        outcome = await run(guarded(script(ACCEPT, Boom(SECRET)), records, reraise=False))
    assert outcome.exception is None
    assert outcome.server.only_close() == (1011, "Internal Error")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "closed with 1011" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is Boom
    assert outcome.record.exception is Boom


async def test_reraise_false_says_when_the_close_could_not_go_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records: list[CloseRecord] = []
    with caplog.at_level(logging.ERROR, logger="asgi_closeguard"):
        outcome = await run(
            guarded(script(ACCEPT, Boom()), records, reraise=False),
            send_error=ConnectionResetError(),
            fail_sends_after=1,
        )
    assert outcome.server.closes() == []
    assert (outcome.record.closed_by, outcome.record.code) == ("server", None)
    assert "the client was gone" in caplog.text
    assert "closed with" not in caplog.text


async def test_reraise_true_does_not_log_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="asgi_closeguard"):
        await run(guarded(script(ACCEPT, Boom())))
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    ("extensions", "sent", "closed_by"),
    [
        pytest.param(
            {"websocket.http.response": {}},
            ["websocket.http.response.start", "websocket.http.response.body"],
            "guard",
            id="denial-extension",
        ),
        pytest.param(None, [], "server", id="no-extension-server-answers-500"),
        pytest.param({}, [], "server", id="empty-extensions"),
    ],
)
async def test_raise_before_accept_is_http_500_never_403(
    extensions: dict[str, Any] | None, sent: list[str], closed_by: str
) -> None:
    records: list[CloseRecord] = []
    outcome = await run(
        guarded(script(Boom(SECRET)), records, reraise=False), extensions=extensions
    )
    assert isinstance(outcome.exception, Boom)  # always re-raised before accept
    assert outcome.server.types() == sent
    assert "websocket.close" not in outcome.server.types()
    if sent:
        assert outcome.server.denial_status() == 500
        assert SECRET.encode() not in outcome.server.sent[1]["body"]
    record = outcome.record
    assert (record.accepted, record.http_status, record.closed_by, record.code) == (
        False,
        500,
        closed_by,
        None,
    )


async def test_raise_after_a_403_is_reraised_with_nothing_more_sent() -> None:
    records: list[CloseRecord] = []
    outcome = await run(guarded(script(close(), Boom()), records))
    assert isinstance(outcome.exception, Boom)
    assert outcome.server.sent == [close(1000, "")]
    assert (outcome.record.http_status, outcome.record.closed_by) == (403, "app")


async def test_disconnect_after_a_failed_send_records_the_servers_code() -> None:
    records: list[CloseRecord] = []

    async def send_then_receive(receive: Receive, send: Send) -> None:
        with pytest.raises(ConnectionResetError):
            await send(send_text())
        assert await receive() == disconnect(1006, "")

    outcome = await run(
        guarded(script(ACCEPT, send_then_receive), records),
        CONNECT,
        disconnect(1006, None),
        send_error=ConnectionResetError(),
        fail_sends_after=1,
    )
    assert outcome.exception is None
    assert (outcome.record.closed_by, outcome.record.code) == ("server", 1006)


async def test_raise_after_the_app_closed_is_reraised_with_nothing_sent() -> None:
    outcome = await run(guarded(script(ACCEPT, close(4000), Boom())))
    assert isinstance(outcome.exception, Boom)
    assert outcome.server.only_close() == (4000, "")


async def test_raise_after_client_disconnect_is_reraised_with_nothing_sent() -> None:
    async def receive_then_raise(receive: Receive, send: Send) -> None:
        await receive()
        raise Boom

    outcome = await run(guarded(script(ACCEPT, receive_then_raise)), CONNECT, disconnect(1001))
    assert isinstance(outcome.exception, Boom)
    assert outcome.server.closes() == []


@pytest.mark.parametrize(
    ("client", "server_options"),
    [
        pytest.param([CONNECT, disconnect(4001, "bye")], {}, id="client-closed"),
        pytest.param(
            [CONNECT], {"send_error": BrokenPipeError(), "fail_sends_after": 1}, id="send-failed"
        ),
    ],
)
async def test_websocket_disconnect_echoing_the_client_is_not_an_error(
    client: list[Message], server_options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from starlette.websockets import WebSocket

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        if server_options:
            await websocket.send_text("into the void")
        await websocket.receive_text()

    records: list[CloseRecord] = []
    with caplog.at_level(logging.DEBUG, logger="asgi_closeguard"):
        outcome = await run(guarded(app, records), *client, **server_options)
    assert outcome.exception is None
    assert outcome.server.closes() == []
    assert outcome.record.exception is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_websocket_disconnect_after_the_apps_own_close_is_reraised() -> None:
    outcome = await run(guarded(script(ACCEPT, close(4000), WebSocketDisconnect(1000))))
    assert isinstance(outcome.exception, WebSocketDisconnect)


async def test_websocket_disconnect_while_open_is_an_error() -> None:
    outcome = await run(guarded(script(ACCEPT, WebSocketDisconnect(1000))))
    assert isinstance(outcome.exception, WebSocketDisconnect)
    assert outcome.server.only_close() == (1011, "Internal Error")


@pytest.mark.parametrize(
    "exception_class", [KeyboardInterrupt, SystemExit, GeneratorExit], ids=lambda c: c.__name__
)
@pytest.mark.parametrize(
    ("steps", "closed_by"),
    [([], "server"), ([ACCEPT], "server"), ([ACCEPT, close(4000)], "app")],
    ids=["before-accept", "after-accept", "after-close"],
)
async def test_base_exceptions_propagate_with_nothing_sent(
    exception_class: type[BaseException], steps: list[Message], closed_by: str
) -> None:
    records: list[CloseRecord] = []
    server = InMemoryServer()
    with pytest.raises(exception_class):
        await guarded(script(*steps, exception_class()), records)(
            server.scope, server.receive, server.send
        )
    assert server.sent == steps  # what the app sent, and nothing from the guard
    (record,) = records
    assert record.exception is exception_class
    assert record.closed_by == closed_by


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_cancelled_open_connection_is_closed_1012(anyio_backend: str) -> None:
    # hypercorn at its graceful timeout and daphne at once cancel the app's task (one-shot
    # Task.cancel()): the guard tells the client to come back, and the cancellation goes on.
    records: list[CloseRecord] = []
    started = anyio.Event()
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(ACCEPT)
        started.set()
        await anyio.sleep_forever()

    async def server_send(message: Message) -> None:
        sent.append(message)

    async def server_receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    scope = {"type": "websocket", "path": "/ws", "extensions": {}}
    task = asyncio.ensure_future(guarded(app, records)(scope, server_receive, server_send))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == [ACCEPT, close(1012, "Service Restart")]
    (record,) = records
    assert (record.closed_by, record.code, record.exception) == ("server", 1012, None)


async def test_errors_of_the_servers_send_never_replace_the_apps_exception() -> None:
    outcome = await run(
        guarded(script(ACCEPT, Boom())),
        send_error=ConnectionResetError(),
        fail_sends_after=1,
    )
    assert isinstance(outcome.exception, Boom)
    refused = await run(guarded(script(ACCEPT, Boom())), refuses_close=lambda code: True)
    assert isinstance(refused.exception, Boom)


# --- The app returns ---------------------------------------------------------------------


async def test_return_after_accept_closes_1000() -> None:
    records: list[CloseRecord] = []
    outcome = await run(guarded(script(ACCEPT, send_text()), records))
    assert outcome.server.types() == ["websocket.accept", "websocket.send", "websocket.close"]
    assert outcome.server.only_close() == (1000, "")
    assert (outcome.record.closed_by, outcome.record.messages_sent) == ("guard", 1)


async def test_return_before_accept_is_403() -> None:
    records: list[CloseRecord] = []
    outcome = await run(guarded(script(), records))
    assert outcome.server.sent == [close(1000, "")]
    assert (outcome.record.http_status, outcome.record.closed_by) == (403, "guard")


async def test_return_after_client_disconnect_sends_nothing() -> None:
    async def receive(receive: Receive, send: Send) -> None:
        await receive()

    outcome = await run(guarded(script(ACCEPT, receive)), CONNECT, disconnect(1000))
    assert outcome.server.closes() == []


@pytest.mark.parametrize("ending", ["return", "raise"])
async def test_unfinished_denial_response_is_finished(ending: str) -> None:
    steps: list[Any] = [{"type": "websocket.http.response.start", "status": 401, "headers": []}]
    steps.append({"type": "websocket.http.response.body", "body": b"no", "more_body": True})
    if ending == "raise":
        steps.append(Boom())
    records: list[CloseRecord] = []
    outcome = await run(guarded(script(*steps), records))
    assert outcome.server.sent[-1] == {"type": "websocket.http.response.body", "body": b""}
    assert outcome.record.http_status == 401
    assert (outcome.exception is not None) == (ending == "raise")


async def test_finished_denial_response_ends_the_connection() -> None:
    records: list[CloseRecord] = []
    seen: list[Message] = []

    async def after(receive: Receive, send: Send) -> None:
        seen.append(await receive())
        with pytest.raises(WebSocketClosedError):
            await send(ACCEPT)

    start = {"type": "websocket.http.response.start", "status": 401, "headers": []}
    body = {"type": "websocket.http.response.body", "body": b"no"}
    outcome = await run(guarded(script(start, body, after, close()), records))
    assert outcome.server.types() == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert seen[0]["type"] == "websocket.disconnect"
    assert (outcome.record.http_status, outcome.record.closed_by) == (401, "app")


# --- The server sends websocket.disconnect -----------------------------------------------

# (what the server reports, what the app receives)
DISCONNECT_TABLE = [
    (disconnect(None, None), disconnect(1005, "")),
    (disconnect(None, "x"), disconnect(1005, "x")),
    (disconnect(4001, None), disconnect(4001, "")),
    ({"type": "websocket.disconnect", "code": None, "reason": None}, disconnect(1005, "")),
    (disconnect(4001, "bye"), disconnect(4001, "bye")),
    (disconnect(1006, ""), disconnect(1006, "")),
]


@pytest.mark.parametrize(("reported", "delivered"), DISCONNECT_TABLE)
async def test_incoming_disconnect(reported: Message, delivered: Message) -> None:
    got: list[Message] = []

    async def receive_twice(receive: Receive, send: Send) -> None:
        got.append(await receive())
        got.append(await receive())  # repeated, never a second trip to the server

    records: list[CloseRecord] = []
    outcome = await run(guarded(script(ACCEPT, receive_twice), records), CONNECT, reported)
    assert got == [delivered, delivered]
    assert got[0] is not got[1]
    assert (outcome.record.closed_by, outcome.record.code, outcome.record.reason) == (
        "client",
        delivered["code"],
        delivered["reason"],
    )


async def test_receive_after_the_apps_close_reports_what_was_sent() -> None:
    got: list[Message] = []

    async def receive(receive: Receive, send: Send) -> None:
        got.append(await receive())

    outcome = await run(
        guarded(script(ACCEPT, close(1005, "x" * 200), receive)), CONNECT, text("never read")
    )
    assert got == [disconnect(1000, "x" * 120 + "…")]
    # The app never saw the text still in flight: the guard drained it while it waited for the
    # client's answering close.
    assert outcome.server.received == [CONNECT, text("never read"), disconnect(1000, "")]


async def test_other_messages_pass_unchanged_and_in_order() -> None:
    echo: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        echo.append(await receive())
        await send({"type": "websocket.accept", "subprotocol": "chat", "headers": []})
        for _ in range(3):
            message = await receive()
            echo.append(message)
            await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": None})
        await send({"type": "websocket.custom", "x": 1})

    client = [CONNECT, *({"type": "websocket.receive", "bytes": bytes([i])} for i in range(3))]
    records: list[CloseRecord] = []
    outcome = await run(guarded(app, records), *client)
    assert echo == client
    assert [m.get("bytes") for m in outcome.server.sent[1:4]] == [b"\x00", b"\x01", b"\x02"]
    assert outcome.server.sent[0]["subprotocol"] == "chat"
    assert outcome.server.sent[4] == {"type": "websocket.custom", "x": 1}
    assert (outcome.record.messages_sent, outcome.record.messages_received) == (3, 3)


async def test_the_app_sees_the_servers_own_objects_on_the_hot_path() -> None:
    received: list[Message] = []
    message = text("same object")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        received.append(await receive())

    await run(guarded(app), CONNECT, message)
    assert received[0] is message


# --- on_close ------------------------------------------------------------------------------


async def test_on_close_may_be_async() -> None:
    records: list[CloseRecord] = []

    async def on_close(record: CloseRecord) -> None:
        await anyio.lowlevel.checkpoint()
        records.append(record)

    await run(CloseGuardMiddleware(script(ACCEPT), on_close=on_close))
    assert [r.code for r in records] == [1000]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_close_that_raises_is_logged_and_harmless(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    def sync_callback(record: CloseRecord) -> None:
        raise RuntimeError("callback bug")

    async def async_callback(record: CloseRecord) -> None:
        raise RuntimeError("callback bug")

    callback = sync_callback if kind == "sync" else async_callback
    with caplog.at_level(logging.ERROR, logger="asgi_closeguard"):
        outcome = await run(CloseGuardMiddleware(script(ACCEPT), on_close=callback))
    assert outcome.exception is None
    assert outcome.server.only_close() == (1000, "")
    assert "on_close" in caplog.text
    assert "callback bug" in caplog.text


async def test_one_record_per_connection_with_every_field() -> None:
    records: list[CloseRecord] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await receive()
        await send(send_text())
        await send(close(1006, "bad"))

    await run(guarded(app, records), CONNECT, text("a"))
    (record,) = records
    assert record.path == "/ws"
    assert record.closed_by == "app"
    assert (record.code, record.reason, record.requested_code) == (1011, "bad", 1006)
    assert record.exception is None
    assert record.accepted is True
    assert record.http_status is None
    assert 0 <= record.duration < 5
    assert (record.messages_sent, record.messages_received) == (1, 1)
    with pytest.raises(AttributeError):
        record.code = 1000  # type: ignore[misc]


async def test_records_hold_no_reference_to_the_exception() -> None:
    records: list[CloseRecord] = []
    refs: list[weakref.ref[Boom]] = []

    async def raise_boom(receive: Receive, send: Send) -> None:
        error = Boom()
        refs.append(weakref.ref(error))
        raise error

    outcome = await run(guarded(script(ACCEPT, raise_boom), records))
    outcome.exception = None
    gc.collect()  # the traceback's frames and the exception form a cycle
    assert refs[0]() is None
    assert records[0].exception is Boom


# --- Everything else -----------------------------------------------------------------------


@pytest.mark.parametrize("scope_type", ["http", "lifespan"])
async def test_other_scopes_pass_straight_through(scope_type: str) -> None:
    calls: list[tuple[Any, Any, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append((scope, receive, send))

    async def receive() -> Message:
        return {}  # pragma: no cover

    async def send(message: Message) -> None:
        pass  # pragma: no cover

    scope = {"type": scope_type}
    await CloseGuardMiddleware(app)(scope, receive, send)
    assert calls == [(scope, receive, send)]
    assert calls[0][1] is receive
    assert calls[0][2] is send


def test_no_connection_state_on_the_instance() -> None:
    guard = CloseGuardMiddleware(script(), exception_codes={TimeoutError: 1013})
    before = dict(vars(guard))

    async def main() -> None:
        await run(guard)
        await run(guard)

    anyio.run(main)
    assert vars(guard) == before


# (options, error class, text the message must contain)
BAD_OPTIONS = [
    ({"exception_codes": {ValueError: 1005}}, ValueError, "only reported locally"),
    ({"exception_codes": {ValueError: 1006}}, ValueError, "exception_codes[ValueError] = 1006"),
    ({"exception_codes": {ValueError: 999}}, ValueError, "0-999"),
    ({"exception_codes": {ValueError: True}}, ValueError, "bool"),
    ({"exception_codes": {ValueError: (1005, "x")}}, ValueError, "1005"),
    ({"exception_codes": {ValueError: (1011, 2)}}, TypeError, "(code, reason)"),
    ({"exception_codes": {ValueError: (1011,)}}, TypeError, "(code, reason)"),
    ({"exception_codes": {asyncio.CancelledError: 1011}}, TypeError, "propagate untouched"),
    ({"exception_codes": {"ValueError": 1011}}, TypeError, "Exception subclasses"),
    ({"exception_codes": [(ValueError, 1011)]}, TypeError, "mapping"),
    ({"on_close": "print"}, TypeError, "on_close"),
    ({"strict": 1}, TypeError, "strict must be True or False"),
    ({"reraise": None}, TypeError, "reraise"),
    ({"expose_exception_text": "yes"}, TypeError, "expose_exception_text"),
    ({"close_timeout": -1}, ValueError, "close_timeout must be a number of seconds"),
    ({"close_timeout": float("inf")}, ValueError, "close_timeout"),
    ({"close_timeout": float("nan")}, ValueError, "close_timeout"),
    ({"close_timeout": "1"}, ValueError, "close_timeout"),
    ({"close_timeout": True}, ValueError, "close_timeout"),
    ({"refuse_with": "CLOSE"}, ValueError, 'refuse_with must be "http" (the default'),
    ({"refuse_with": "403"}, ValueError, 'or "close" (accept, then close with the code)'),
    ({"refuse_with": None}, ValueError, "not None"),
    ({"refuse_with": True}, ValueError, "refuse_with must be"),
]


@pytest.mark.parametrize(("options", "error", "mentions"), BAD_OPTIONS)
def test_options_are_validated_once_with_errors_that_say_what_to_fix(
    options: dict[str, Any], error: type[Exception], mentions: str
) -> None:
    with pytest.raises(error) as caught:
        CloseGuardMiddleware(script(), **options)
    assert mentions in str(caught.value)


def test_every_mapped_code_is_sendable() -> None:
    guard = CloseGuardMiddleware(
        script(), exception_codes={TimeoutError: CloseCode.TRY_AGAIN_LATER, OSError: (4000, "x")}
    )
    assert guard.exception_closes == {TimeoutError: (1013, "Try Again Later"), OSError: (4000, "x")}
    assert all(is_sendable(code) for code, _ in guard.exception_closes.values())
    assert type(guard.exception_closes[TimeoutError][0]) is int


async def test_refused_close_is_not_raised_into_the_app() -> None:
    outcome = await run(guarded(script(ACCEPT, close(1001))), refuses_close=lambda c: c != 1000)
    assert outcome.exception is None


async def test_client_gone_during_close_is_not_raised_into_the_app() -> None:
    outcome = await run(
        guarded(script(ACCEPT, close(4000))), send_error=ConnectionResetError(), fail_sends_after=1
    )
    assert outcome.exception is None


async def test_denial_500_that_fails_still_reraises() -> None:
    outcome = await run(guarded(script(Boom())), send_error=ServerRefused(), fail_sends_after=0)
    assert isinstance(outcome.exception, Boom)


async def test_unfinished_denial_that_cannot_be_finished() -> None:
    start = {"type": "websocket.http.response.start", "status": 401, "headers": []}
    outcome = await run(guarded(script(start)), send_error=ServerRefused(), fail_sends_after=1)
    assert outcome.exception is None


async def test_servers_non_oserror_on_send_passes_through_unchanged() -> None:
    outcome = await run(
        guarded(script(ACCEPT, send_text())), send_error=TypeError("bad"), fail_sends_after=1
    )
    assert isinstance(outcome.exception, TypeError)
    assert outcome.server.closes() == []  # the guard's 1011 failed too, and stayed quiet


# --- The closing handshake ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "client"),
    [
        pytest.param([ACCEPT, close(4000)], [CONNECT], id="app-closes"),
        pytest.param([ACCEPT, Boom()], [CONNECT], id="app-raises"),
        pytest.param([ACCEPT], [CONNECT], id="app-returns"),
        pytest.param([ACCEPT, close(4000)], [CONNECT, text("in flight")], id="message-in-flight"),
    ],
)
async def test_the_guard_waits_for_the_clients_close(
    steps: list[Any], client: list[Message]
) -> None:
    outcome = await run(guarded(script(*steps)), *client)
    code = outcome.server.closes()[0]["code"]
    assert outcome.server.received[-1] == disconnect(code, "")


async def test_a_client_that_never_answers_is_waited_for_a_bounded_time() -> None:
    records: list[CloseRecord] = []
    outcome = await run(
        guarded(script(ACCEPT, close(4000)), records, close_timeout=0.05),
        answers_close=False,
        time_limit=2,
    )
    assert outcome.server.only_close() == (4000, "")
    assert 0.04 < outcome.record.duration < 2


async def test_close_timeout_zero_does_not_wait() -> None:
    outcome = await run(guarded(script(ACCEPT, close(4000)), close_timeout=0), answers_close=False)
    assert outcome.server.received == [CONNECT]


async def test_no_wait_when_the_client_closed_first_or_before_accept() -> None:
    client_first = await run(
        guarded(script(ACCEPT, lambda receive, send: receive())), CONNECT, disconnect(4001)
    )
    assert client_first.server.received == [CONNECT, disconnect(4001)]
    refused = await run(guarded(script(close())), answers_close=False)
    assert refused.server.received == [CONNECT]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_wait_needs_no_trio_under_asyncio(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.delitem(sys.modules, "trio", raising=False)
    outcome = await run(
        guarded(script(ACCEPT, close(4000)), close_timeout=0.05), answers_close=False
    )
    assert outcome.server.only_close() == (4000, "")


# --- refuse_with="close": refusals a browser can read ----------------------------------------

LOGIN_REQUIRED = close(4401, "login required")


def offering(app: Any, subprotocols: list[str]) -> Any:
    """``app`` called with a scope whose client offered ``subprotocols``."""

    async def with_subprotocols(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "subprotocols": subprotocols}, receive, send)

    return with_subprotocols


class Forbidden(PermissionError):
    pass


# One row per row of the contract's table, plus what "as after accept" means for the codes:
# (the app before accept, options, what reaches the server after the guard's accept,
#  closed_by, requested_code, exception escaping)
REFUSE_WITH_CLOSE_TABLE = [
    pytest.param([LOGIN_REQUIRED], {}, (4401, "login required"), "app", None, None,
                 id="close-4401"),
    pytest.param([{"type": "websocket.close"}], {}, (1000, ""), "app", None, None,
                 id="close-without-code"),
    pytest.param([close(None, None)], {}, (1000, ""), "app", None, None, id="close-none"),
    pytest.param([close(1006, "gone")], {}, (1011, "gone"), "app", 1006, None,
                 id="close-forbidden-code-replaced"),
    pytest.param([close(4029, "x" * 150)], {}, (4029, "x" * 120 + "…"), "app", None, None,
                 id="close-long-reason-cut"),
    pytest.param([Boom(SECRET)], {}, (1011, "Internal Error"), "guard", None, Boom,
                 id="crash"),
    pytest.param([Forbidden(SECRET)], {"exception_codes": {PermissionError: (4403, "Forbidden")}},
                 (4403, "Forbidden"), "guard", None, Forbidden, id="crash-mapped"),
    pytest.param([WebSocketException(4403, "no entry")], {}, (4403, "no entry"), "guard", None,
                 WebSocketException, id="crash-websocket-exception"),
    pytest.param([], {}, (1008, "Policy Violation"), "guard", None, None, id="return"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("steps", "options", "on_wire", "closed_by", "requested", "escapes"), REFUSE_WITH_CLOSE_TABLE
)
@pytest.mark.parametrize(
    ("offered", "chosen"), [([], None), (["chat.v2", "chat.v1"], "chat.v2")], ids=["", "subproto"]
)
@pytest.mark.parametrize("extensions", [DENIAL_EXTENSION, None], ids=["denial-ext", "no-ext"])
async def test_a_refusal_before_accept_is_a_close_the_browser_can_read(
    steps: list[Step],
    options: dict[str, Any],
    on_wire: tuple[int, str],
    closed_by: str,
    requested: object,
    escapes: type[Exception] | None,
    offered: list[str],
    chosen: str | None,
    extensions: dict[str, Any] | None,
) -> None:
    records: list[CloseRecord] = []
    guard = guarded(script(*steps), records, refuse_with="close", **options)
    outcome = await run(offering(guard, offered), records=records, extensions=extensions)
    # The first subprotocol offered: Chromium fails a handshake that leaves it out.
    accept = {"type": "websocket.accept", **({"subprotocol": chosen} if chosen else {})}
    assert outcome.server.sent == [accept, close(*on_wire)]
    # A crash is re-raised as usual.
    assert (None if outcome.exception is None else type(outcome.exception)) is escapes
    assert SECRET not in repr(outcome.server.sent)
    # The guard waited for the client's answering close.
    assert outcome.server.received[-1] == disconnect(on_wire[0], "")
    record = outcome.record
    assert (record.accepted, record.http_status, record.code, record.reason) == (
        False,
        None,
        *on_wire,
    )
    assert (record.closed_by, record.requested_code, record.exception) == (
        closed_by,
        requested,
        escapes,
    )


async def test_a_denial_response_the_app_sends_itself_stays_http() -> None:
    records: list[CloseRecord] = []
    start = {"type": "websocket.http.response.start", "status": 401, "headers": []}
    body = {"type": "websocket.http.response.body", "body": b"log in first"}
    outcome = await run(guarded(script(start, body), records, refuse_with="close"))
    assert outcome.server.sent == [start, body]
    assert (outcome.record.accepted, outcome.record.http_status, outcome.record.code) == (
        False,
        401,
        None,
    )


async def test_the_default_is_http() -> None:
    guard = CloseGuardMiddleware(script(LOGIN_REQUIRED))
    assert guard.refuse_with == "http"
    outcome = await run(guard)
    assert outcome.server.sent == [LOGIN_REQUIRED]  # the server answers 403


async def test_nothing_the_client_sends_reaches_the_app_after_a_refusal() -> None:
    seen: list[Message] = []

    async def keeps_going(receive: Receive, send: Send) -> None:
        seen.append(await receive())
        seen.append(await receive())
        with pytest.raises(WebSocketClosedError, match="closed with code 4401"):
            await send(send_text("too late"))
        with pytest.raises(WebSocketClosedError):
            await send(ACCEPT)

    records: list[CloseRecord] = []
    outcome = await run(
        guarded(script(LOGIN_REQUIRED, keeps_going), records, refuse_with="close"),
        CONNECT,
        text("my token"),
        records=records,
    )
    assert seen == [disconnect(4401, "login required")] * 2
    assert outcome.server.types() == ["websocket.accept", "websocket.close"]
    # The guard read the client's message and its close while it waited, for nobody.
    assert outcome.server.received == [CONNECT, text("my token"), disconnect(4401, "")]
    assert (outcome.record.messages_received, outcome.record.messages_sent) == (0, 0)


async def test_a_read_in_flight_at_a_refusal_gets_the_refusals_close() -> None:
    # Quart keeps a receive() pending in another task from the start: what the client sends
    # after the guard's accept must not reach it.
    read: list[Message] = []
    waiting = anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        async with anyio.create_task_group() as tasks:

            async def reader() -> None:
                waiting.set()
                read.append(await receive())

            tasks.start_soon(reader)
            await waiting.wait()
            await anyio.lowlevel.checkpoint()  # the reader now waits in the server's receive()
            await send(LOGIN_REQUIRED)
            server.client_sends(text("my token"))

    records: list[CloseRecord] = []
    server = LateClientServer()
    guard = guarded(app, records, refuse_with="close")
    with anyio.fail_after(5):
        await guard(server.scope, server.receive, server.send)
    assert read == [disconnect(4401, "login required")]
    assert (records[0].code, records[0].messages_received) == (4401, 0)


class LateClientServer(InMemoryServer):
    """An in-memory server whose client speaks only when the test says so."""

    def client_sends(self, message: Message) -> None:
        self._inbox.append(message)
        self._close_sent.set()  # wake a read that waits


async def test_a_refusal_does_not_count_as_an_open_connection() -> None:
    # Integrations count accepted connections (connection_opened) and uncount records with
    # accepted=True: the guard's own accept of a refusal is neither.
    class Counting:
        def __init__(self) -> None:
            self.opened: list[str | None] = []
            self.records: list[CloseRecord] = []

        def connection_opened(self, route: str | None) -> None:
            self.opened.append(route)

        def __call__(self, record: CloseRecord) -> None:
            self.records.append(record)

    counting = Counting()
    guard = CloseGuardMiddleware(script(LOGIN_REQUIRED), on_close=counting, refuse_with="close")
    await run(guard)
    assert counting.opened == []
    assert [r.accepted for r in counting.records] == [False]


async def test_a_client_gone_during_the_handshake_gets_no_refusal() -> None:
    async def reads_the_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.disconnect"

    records: list[CloseRecord] = []
    outcome = await run(
        guarded(reads_the_disconnect, records, refuse_with="close"), disconnect(1001, "")
    )
    assert outcome.server.sent == []
    assert (outcome.record.closed_by, outcome.record.code) == ("client", 1001)


async def test_a_refusal_whose_accept_fails_tells_the_app_nothing() -> None:
    records: list[CloseRecord] = []
    outcome = await run(
        guarded(script(LOGIN_REQUIRED), records, refuse_with="close"),
        send_error=ConnectionResetError("gone"),
        fail_sends_after=0,
    )
    assert outcome.exception is None
    assert outcome.server.sent == []
    assert (outcome.record.closed_by, outcome.record.code, outcome.record.accepted) == (
        "server",
        None,
        False,
    )


async def test_strict_refuses_a_forbidden_code_before_accept_too() -> None:
    seen: list[BaseException] = []

    async def retries(receive: Receive, send: Send) -> None:
        try:
            await send(close(1006))
        except ForbiddenCloseCodeError as exc:
            seen.append(exc)
        await send(LOGIN_REQUIRED)

    outcome = await run(guarded(script(retries), refuse_with="close", strict=True))
    assert len(seen) == 1
    assert outcome.server.sent == [ACCEPT, LOGIN_REQUIRED]


def refuses_like_daphne(code: int) -> bool:
    # daphne 4.2.3 (autobahn) takes only 1000 and 3000-4999.
    return not (code == 1000 or 3000 <= code <= 4999)


# (the app before accept, options, the close daphne took, closed_by, requested_code)
DAPHNE_TABLE = [
    pytest.param([LOGIN_REQUIRED], {}, (4401, "login required"), "app", None, id="4401"),
    # A return's 1008 falls back as any other refused code: 1000.
    pytest.param([], {}, (1000, "Policy Violation"), "guard", 1008, id="return"),
    pytest.param([close(1011, "bug")], {}, (4011, "bug"), "app", 1011, id="close-1011"),
    # The exception stops here (reraise=False): the guard falls back, 1011 goes out as 4011.
    pytest.param([Boom()], {"reraise": False}, (4011, "Internal Error"), "guard", 1011,
                 id="crash-not-reraised"),
]  # fmt: skip


@pytest.mark.parametrize(("steps", "options", "took", "closed_by", "requested"), DAPHNE_TABLE)
async def test_on_daphne_the_refusals_close_falls_back_like_any_close(
    steps: list[Step],
    options: dict[str, Any],
    took: tuple[int, str],
    closed_by: str,
    requested: object,
) -> None:
    records: list[CloseRecord] = []
    outcome = await run(
        guarded(script(*steps), records, refuse_with="close", **options),
        extensions=None,
        refuses_close=refuses_like_daphne,
    )
    assert outcome.server.sent == [ACCEPT, close(*took)]
    assert (outcome.record.closed_by, outcome.record.code, outcome.record.requested_code) == (
        closed_by,
        took[0],
        requested,
    )


async def test_on_daphne_a_reraised_crash_leaves_its_1011_to_the_server() -> None:
    # As after accept: daphne refuses the guard's 1011, the exception goes on, and daphne
    # closes with 1011 itself.
    records: list[CloseRecord] = []
    outcome = await run(
        guarded(script(Boom()), records, refuse_with="close"),
        extensions=None,
        refuses_close=refuses_like_daphne,
    )
    assert isinstance(outcome.exception, Boom)
    assert outcome.server.sent == [ACCEPT]
    assert (outcome.record.closed_by, outcome.record.code) == ("server", None)


async def test_reraise_false_logs_a_crash_before_accept_and_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records: list[CloseRecord] = []
    with caplog.at_level(logging.ERROR, logger="asgi_closeguard"):
        outcome = await run(guarded(script(Boom()), records, refuse_with="close", reraise=False))
    assert outcome.exception is None
    assert outcome.server.sent == [ACCEPT, close(1011, "Internal Error")]
    (logged,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "closed with 1011" in logged.getMessage()
    assert outcome.record.exception is Boom


async def closes_without_reading_the_handshake(scope: Scope, receive: Receive, send: Send) -> None:
    # Starlette's websocket.close() before accept sends the close without reading the connect.
    await send(LOGIN_REQUIRED)


async def test_the_guard_reads_the_handshake_before_its_accept_when_the_app_did_not() -> None:
    # ASGI hands over websocket.connect first; granian 2.8 panics on a receive() after the
    # close while it is unread, which the guard's wait for the client's close does.
    records: list[CloseRecord] = []
    outcome = await run(
        guarded(closes_without_reading_the_handshake, records, refuse_with="close"),
        records=records,
    )
    assert outcome.server.sent == [ACCEPT, LOGIN_REQUIRED]
    assert outcome.server.received == [CONNECT, disconnect(4401, "")]
    assert (outcome.record.closed_by, outcome.record.code) == ("app", 4401)


async def test_a_starlette_close_before_accept_is_a_refusal_the_browser_can_read() -> None:
    from starlette.websockets import WebSocket

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await WebSocket(scope, receive, send).close(4401, "login required")

    records: list[CloseRecord] = []
    outcome = await run(
        offering(guarded(app, records, refuse_with="close"), ["chat.v1"]), records=records
    )
    assert outcome.server.sent == [{**ACCEPT, "subprotocol": "chat.v1"}, LOGIN_REQUIRED]
    assert (outcome.record.accepted, outcome.record.code) == (False, 4401)


async def test_a_client_gone_before_the_refusals_accept_gets_nothing() -> None:
    records: list[CloseRecord] = []
    outcome = await run(
        guarded(closes_without_reading_the_handshake, records, refuse_with="close"),
        disconnect(1001, "bye"),
        records=records,
    )
    assert outcome.server.sent == []
    assert (outcome.record.closed_by, outcome.record.code, outcome.record.reason) == (
        "client",
        1001,
        "bye",
    )


async def test_a_handshake_that_cannot_be_read_ends_the_refusal_quietly() -> None:
    records: list[CloseRecord] = []
    server = InMemoryServer(client=(), receive_error=ConnectionResetError("gone"))
    guard = guarded(closes_without_reading_the_handshake, records, refuse_with="close")
    with anyio.fail_after(5):
        await guard(server.scope, server.receive, server.send)
    assert server.sent == []
    (record,) = records
    assert (record.closed_by, record.code, record.accepted) == ("server", None, False)
