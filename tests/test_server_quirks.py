"""Server quirks the guard works around, imitated on the in-memory server (asyncio and trio).

Each test names the real server whose behaviour it imitates; ``tests/servers`` checks the same
rows against the real servers.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from asgi_closeguard import CloseCode, CloseGuardMiddleware, CloseRecord
from asgi_closeguard._types import Message, Receive, Scope, Send
from tests.harness import CONNECT, disconnect, run

pytestmark = pytest.mark.anyio

ACCEPT: Message = {"type": "websocket.accept"}


def daphne_refuses(code: int) -> bool:
    """daphne 4.2.3 (autobahn's sendClose) sends only 1000 and 3000-4999."""
    return code != 1000 and not 3000 <= code <= 4999


def refuses_everything(code: int) -> bool:
    """A server that will send no close at all."""
    return True


class Boom(Exception):
    """The app's own bug."""


def closing_app(
    code: object, reason: str = "", *, then_receive: list[Message] | None = None
) -> Any:
    """Accept, close with ``code``, then (optionally) record what ``receive()`` returns."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await send({"type": "websocket.close", "code": code, "reason": reason})
        if then_receive is not None:
            then_receive.append(await receive())

    return app


def crashing_app(exc: Exception) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        raise exc

    return app


def crashing_before_accept(exc: Exception) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise exc

    return app


def closes(outcome: Any) -> list[tuple[int, str]]:
    return [(m["code"], m["reason"]) for m in outcome.server.closes()]


# (the app's close code, what reaches daphne, the code recorded as the one asked for)
DAPHNE_APP_CLOSE_TABLE = [
    (1000, 1000, None),
    (4000, 4000, None),
    (3000, 3000, None),
    # Refused, retried with a code that keeps the meaning for reconnecting: a "come back" code
    # becomes the private-use code with the same last three digits, anything else 1000.
    (1001, 4001, 1001),
    (1011, 4011, 1011),
    (1012, 4012, 1012),
    (1013, 4013, 1013),
    (1008, 1000, 1008),
    (1003, 1000, 1003),
    (1006, 4011, 1006),  # the guard makes it 1011 first; daphne refuses that too
    (999, 4011, 999),
]


@pytest.mark.parametrize(("asked", "on_wire", "requested"), DAPHNE_APP_CLOSE_TABLE)
async def test_daphne_refused_app_close_falls_back_keeping_its_meaning(
    asked: int, on_wire: int, requested: object, caplog: pytest.LogCaptureFixture
) -> None:
    records: list[CloseRecord] = []
    after: list[Message] = []
    app = CloseGuardMiddleware(
        closing_app(asked, "bye", then_receive=after), on_close=records.append
    )
    with caplog.at_level(logging.WARNING, logger="asgi_closeguard"):
        outcome = await run(app, refuses_close=daphne_refuses)
    assert outcome.exception is None
    # The client gets a close frame: the socket is never left open.
    assert closes(outcome) == [(on_wire, "bye")]
    # After its close, the app's receive() reports what went out.
    assert after == [disconnect(on_wire, "bye")]
    record = outcome.record
    assert (record.closed_by, record.code, record.requested_code) == ("app", on_wire, requested)
    refusals = [r for r in caplog.records if "refused close code" in r.getMessage()]
    assert len(refusals) == (0 if on_wire == asked else 1)


async def test_daphne_crash_is_reraised_so_daphne_sends_1011() -> None:
    # daphne 4.2.3 refuses the guard's 1011, then answers the re-raised exception with its
    # own 1011 (WebSocketProtocol.handle_exception): a 1000 here would hide the crash.
    records: list[CloseRecord] = []
    app = CloseGuardMiddleware(crashing_app(Boom("secret")), on_close=records.append)
    outcome = await run(app, refuses_close=daphne_refuses)
    assert isinstance(outcome.exception, Boom)
    assert closes(outcome) == []
    assert outcome.server.types() == ["websocket.accept"]
    record = outcome.record
    assert (record.closed_by, record.code, record.reason) == ("server", None, "")
    assert record.exception is Boom


async def test_daphne_mapped_code_is_reraised_too() -> None:
    app = CloseGuardMiddleware(
        crashing_app(TimeoutError("slow")), exception_codes={TimeoutError: 1013}
    )
    outcome = await run(app, refuses_close=daphne_refuses)
    assert isinstance(outcome.exception, TimeoutError)
    assert closes(outcome) == []


async def test_daphne_crash_not_reraised_falls_back_to_4011() -> None:
    # Nobody re-raises, so daphne would send nothing: the guard's fallback is the only way out,
    # and it must not say "normal closure, stay away" (1000) for a crash.
    records: list[CloseRecord] = []
    app = CloseGuardMiddleware(crashing_app(Boom()), on_close=records.append, reraise=False)
    outcome = await run(app, refuses_close=daphne_refuses)
    assert outcome.exception is None
    assert closes(outcome) == [(4011, "Internal Error")]
    record = outcome.record
    assert (record.closed_by, record.code, record.requested_code) == ("guard", 4011, 1011)


async def test_app_close_refused_even_as_1000_is_swallowed() -> None:
    records: list[CloseRecord] = []
    app = CloseGuardMiddleware(closing_app(4000), on_close=records.append)
    outcome = await run(app, refuses_close=refuses_everything)
    assert outcome.exception is None
    assert closes(outcome) == []
    # Nothing went out: the record says so, rather than the code that was asked for.
    record = outcome.record
    assert (record.closed_by, record.code, record.requested_code) == ("server", None, None)


async def test_app_close_1000_refused_is_not_retried() -> None:
    app = CloseGuardMiddleware(closing_app(1000))
    outcome = await run(app, refuses_close=refuses_everything)
    assert outcome.exception is None
    assert closes(outcome) == []


async def test_crash_not_reraised_with_every_close_refused() -> None:
    records: list[CloseRecord] = []
    app = CloseGuardMiddleware(crashing_app(Boom()), on_close=records.append, reraise=False)
    outcome = await run(app, refuses_close=refuses_everything)
    assert outcome.exception is None
    assert closes(outcome) == []
    assert (outcome.record.closed_by, outcome.record.code) == ("server", None)


async def test_close_before_accept_is_never_refused_on_daphne() -> None:
    # daphne turns a close before accept into its 403 without looking at the code.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1001})

    outcome = await run(
        CloseGuardMiddleware(app), CONNECT, refuses_close=lambda code: False, extensions=None
    )
    assert outcome.exception is None
    assert closes(outcome) == [(1001, "")]


async def test_granian_crash_before_accept_is_500_through_the_denial_extension() -> None:
    # granian 2.8.7 answers 403 to an app that raises before accept; it offers the
    # websocket.http.response extension, so the guard answers 500 itself.
    outcome = await run(CloseGuardMiddleware(crashing_before_accept(Boom())))
    assert isinstance(outcome.exception, Boom)
    assert outcome.server.denial_status() == 500
    assert closes(outcome) == []


async def test_daphne_crash_before_accept_is_left_to_daphne() -> None:
    # daphne 4.2.3 offers no denial extension; a close would be its 403. Re-raised, the
    # exception makes daphne answer 500.
    outcome = await run(CloseGuardMiddleware(crashing_before_accept(Boom())), extensions=None)
    assert isinstance(outcome.exception, Boom)
    assert outcome.server.sent == []


async def test_hypercorn_never_sees_code_none() -> None:
    # hypercorn 0.18 raises TypeError on int(None) and sends no close frame at all.
    outcome = await run(CloseGuardMiddleware(closing_app(None)))
    assert closes(outcome) == [(1000, "")]
    assert type(outcome.server.closes()[0]["code"]) is int


async def test_daphne_gets_a_plain_int_for_an_int_enum_code() -> None:
    # autobahn (daphne 4.2.3) refuses any code whose type is not exactly int.
    app = CloseGuardMiddleware(closing_app(CloseCode.NORMAL_CLOSURE, "bye"))
    outcome = await run(app, refuses_close=lambda code: type(code) is not int)
    assert closes(outcome) == [(1000, "bye")]


@pytest.mark.parametrize("extensions", [None, {"websocket.http.response": {}}])
async def test_return_after_accept_closes_1000_on_every_server(
    extensions: dict[str, Any] | None,
) -> None:
    # uvicorn sends no close frame, hypercorn 1011, granian an empty frame, and daphne keeps
    # the socket open for 24 hours: behind the guard all of them close with 1000.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)

    outcome = await run(
        CloseGuardMiddleware(app), refuses_close=daphne_refuses, extensions=extensions
    )
    assert closes(outcome) == [(1000, "")]
