"""Bugs the robustness suite found, each pinned by the smallest script that showed it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.exceptions import WebSocketException

from asgi_closeguard import CloseGuardMiddleware, CloseRecord, ForbiddenCloseCodeError
from asgi_closeguard._types import Message, Receive, Scope, Send
from tests.harness import CONNECT, run

pytestmark = pytest.mark.anyio

ACCEPT: Message = {"type": "websocket.accept"}


def accept_then_raise(error: Exception) -> Callable[[Scope, Receive, Send], Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        raise error

    return app


@pytest.mark.parametrize(
    ("configured_reason", "on_wire"),
    [
        pytest.param("é" * 100, "é" * 60 + "…", id="over-123-bytes"),
        pytest.param("bad \ud800 half", "bad \ufffd half", id="lone-surrogate"),
    ],
)
async def test_a_configured_reason_is_made_to_fit_the_wire(
    configured_reason: str, on_wire: str
) -> None:
    # `exception_codes={ValueError: (4000, reason)}` once sent the reason as configured: 203 bytes
    # of UTF-8, or text that cannot be encoded at all.
    guard = CloseGuardMiddleware(
        accept_then_raise(ValueError()), exception_codes={ValueError: (4000, configured_reason)}
    )
    outcome = await run(guard)
    code, reason = outcome.server.only_close()
    assert (code, reason) == (4000, on_wire)
    assert len(reason.encode("utf-8")) <= 123


@pytest.mark.parametrize("forbidden", [1005, 1006, 999, "4000"])
async def test_strict_mode_still_closes_for_a_websocket_exception_with_a_forbidden_code(
    forbidden: object,
) -> None:
    # With strict=True a WebSocketException(1006) escaping the app made the guard raise its own
    # ForbiddenCloseCodeError over the app's exception, and the client got no close at all.
    records: list[CloseRecord] = []
    error = WebSocketException(forbidden, "gone")  # type: ignore[arg-type]
    guard = CloseGuardMiddleware(accept_then_raise(error), strict=True, on_close=records.append)
    outcome = await run(guard)
    assert outcome.exception is error
    assert not isinstance(outcome.exception, ForbiddenCloseCodeError)
    expected_code = 1000 if forbidden == 1005 else 1011
    assert outcome.server.only_close() == (expected_code, "gone")
    assert records[0].requested_code == forbidden


class UnprintableError(Exception):
    """An exception whose text cannot be produced: ``str()`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ failed")


async def test_exposing_the_text_of_an_exception_whose_str_fails() -> None:
    # expose_exception_text=True once let the RuntimeError from `str(exc)` escape in place of the
    # app's exception, with no close sent.
    error = UnprintableError()
    outcome = await run(CloseGuardMiddleware(accept_then_raise(error), expose_exception_text=True))
    assert outcome.exception is error
    assert outcome.server.only_close() == (1011, "UnprintableError")


DENIAL_START: Message = {"type": "websocket.http.response.start", "status": 401, "headers": []}


async def test_a_close_during_a_denial_response_ends_the_response_instead() -> None:
    # A close sent while a denial response was still open went out, and the guard then finished
    # the response after it: a message after the close, and a record saying 403 for a 401.
    records: list[CloseRecord] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(DENIAL_START)
        await send({"type": "websocket.close", "code": 1000})

    outcome = await run(CloseGuardMiddleware(app, on_close=records.append))
    assert outcome.server.sent == [
        DENIAL_START,
        {"type": "websocket.http.response.body", "body": b""},
    ]
    assert (records[0].http_status, records[0].closed_by) == (401, "app")


async def test_a_denial_start_after_accept_does_not_cost_the_websocket_its_close() -> None:
    # After accept, a stray denial start made the guard "finish the denial" on return instead of
    # closing: the client's WebSocket got no close frame.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await send(DENIAL_START)  # a server refuses this after accept; this one lets it through

    outcome = await run(CloseGuardMiddleware(app))
    assert outcome.server.sent[-1] == {"type": "websocket.close", "code": 1000, "reason": ""}
    assert outcome.server.only_close() == (1000, "")


async def test_a_client_that_left_during_a_denial_response_keeps_its_close() -> None:
    # The client leaves while the app's denial response is open; the app's close then ends the
    # response. receive() must go on reporting the client's own close, as the record does:
    # the guard handed out (1000, "") instead, once the response was ended.
    records: list[CloseRecord] = []
    received: list[Message] = []
    client_close: Message = {"type": "websocket.disconnect", "code": 1000, "reason": "bye"}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(DENIAL_START)
        received.append(await receive())
        await send({"type": "websocket.close"})
        received.append(await receive())

    outcome = await run(CloseGuardMiddleware(app, on_close=records.append), CONNECT, client_close)
    assert outcome.server.sent == [
        DENIAL_START,
        {"type": "websocket.http.response.body", "body": b""},
    ]
    assert (records[0].closed_by, records[0].code, records[0].reason) == ("client", 1000, "bye")
    assert received == [client_close, client_close]


async def test_an_app_that_returns_during_its_denial_response_is_who_closed() -> None:
    # The app answers the handshake with its own 401 and returns before the last body chunk:
    # the guard ends the response. The record said closed_by="server", as if the server had
    # dropped the connection; a close during the same response says "app".
    records: list[CloseRecord] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(DENIAL_START)

    outcome = await run(CloseGuardMiddleware(app, on_close=records.append))
    assert outcome.server.sent == [
        DENIAL_START,
        {"type": "websocket.http.response.body", "body": b""},
    ]
    assert (records[0].http_status, records[0].closed_by) == (401, "app")
