"""The connection's life as a table: state, event, the state after it and what goes out.

No event loop: every decision of :class:`Connection` is a plain method call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.exceptions import WebSocketException

from asgi_closeguard import ForbiddenCloseCodeError, WebSocketClosedError
from asgi_closeguard._connection import Connection, Policy, State, disconnect

POLICY = Policy(exception_closes={TimeoutError: (1013, "Try Again Later")}, strict=False,
                expose_exception_text=False)  # fmt: skip
STRICT = Policy(exception_closes={}, strict=True, expose_exception_text=False)

CLOSE_4000 = {"type": "websocket.close", "code": 4000, "reason": "why"}


def close(code: Any = 1000, reason: Any = "") -> dict[str, Any]:
    return {"type": "websocket.close", "code": code, "reason": reason}


# How to bring a fresh connection into each state (the events, in order).
def in_handshake(c: Connection) -> None:
    pass


def in_denying(c: Connection) -> None:
    c.denial_started(401)


def in_open(c: Connection) -> None:
    c.accept_sent()


def in_closing(c: Connection) -> None:
    c.accept_sent()
    c.close_requested(CLOSE_4000)


def in_closed_by_client(c: Connection) -> None:
    c.accept_sent()
    c.disconnect_received(disconnect(4001, "bye"))


def in_refused(c: Connection) -> None:
    c.close_requested(close(1000))


STATES: dict[str, Callable[[Connection], None]] = {
    "handshake": in_handshake,
    "denying": in_denying,
    "open": in_open,
    "closing": in_closing,
    "closed": in_closed_by_client,
    "refused": in_refused,
}


def connection(state: str, policy: Policy = POLICY) -> Connection:
    c = Connection(policy, "/ws")
    STATES[state](c)
    assert c.state.value == state
    return c


# --- The app's websocket.close, in every state ----------------------------------------------

# (state, what the app sends, what goes to the server, state after, closed_by after)
CLOSE_TABLE = [
    ("handshake", close(1006, "x"), close(1006, "x"), State.REFUSED, "app"),
    ("handshake", {"type": "websocket.close"}, close(1000, ""), State.REFUSED, "app"),
    ("handshake", close(None, None), close(1000, ""), State.REFUSED, "app"),
    ("denying", close(4000), {"type": "websocket.http.response.body", "body": b""},
     State.REFUSED, "app"),
    ("open", close(4000, "why"), close(4000, "why"), State.CLOSING, "app"),
    ("open", close(1006), close(1011, ""), State.CLOSING, "app"),
    ("open", close(None, ["list"]), close(1000, '["list"]'), State.CLOSING, "app"),
    ("closing", close(4001), None, State.CLOSING, "app"),
    ("closed", close(4001), None, State.CLOSED, "client"),
    ("refused", close(4001), None, State.REFUSED, "app"),
]  # fmt: skip


@pytest.mark.parametrize(("state", "sent", "outgoing", "after", "closed_by"), CLOSE_TABLE)
def test_close_in_every_state(
    state: str, sent: dict[str, Any], outgoing: object, after: State, closed_by: str
) -> None:
    c = connection(state)
    assert c.close_requested(sent) == outgoing
    assert (c.state, c.closed_by) == (after, closed_by)


def test_strict_refusal_leaves_the_connection_as_it_was() -> None:
    c = connection("open", STRICT)
    with pytest.raises(ForbiddenCloseCodeError):
        c.close_requested(close(1006))
    assert (c.state, c.closed_by, c.ended) == (State.OPEN, None, None)


def test_a_close_after_the_client_left_a_denial_finishes_the_response() -> None:
    c = connection("denying")
    c.disconnect_received(disconnect(1001, ""))
    assert c.close_requested(close(4000)) == {"type": "websocket.http.response.body", "body": b""}
    assert (c.state, c.closed_by) == (State.REFUSED, "client")


def test_a_dropped_close_says_who_ended_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="asgi_closeguard")
    connection("closing").close_requested(close(4001))
    connection("closed").close_requested(close(4001))
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "dropped a second websocket.close on /ws",
        "dropped websocket.close on /ws: the client had already ended the connection",
    ]


# --- The server's websocket.disconnect -------------------------------------------------------

# (state, what the server hands over, what the app receives, state after, closed_by, code)
DISCONNECT_TABLE = [
    ("open", disconnect(4001, "bye"), disconnect(4001, "bye"), State.CLOSED, "client", 4001),
    ("open", {"type": "websocket.disconnect"}, disconnect(1005, ""), State.CLOSED, "client",
     1005),
    # uvicorn's own close at shutdown: 1012 is a server's code, never a client's.
    ("open", disconnect(1012, ""), disconnect(1012, ""), State.CLOSED, "server", 1012),
    # The answer to the app's close, whatever the server reports: the close that was sent.
    ("closing", disconnect(1005, ""), disconnect(4000, "why"), State.CLOSED, "app", 4000),
    ("closing", disconnect(1006, ""), disconnect(4000, "why"), State.CLOSED, "app", 4000),
    ("closed", disconnect(1006, ""), disconnect(4001, "bye"), State.CLOSED, "client", 4001),
    ("refused", disconnect(1006, ""), disconnect(1000, ""), State.REFUSED, "app", None),
    # A client that leaves during a denial response: the response is still owed its end.
    ("denying", disconnect(1001, ""), disconnect(1001, ""), State.DENYING, "client", 1001),
    ("handshake", disconnect(1001, ""), disconnect(1001, ""), State.CLOSED, "client", 1001),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "reported", "delivered", "after", "closed_by", "code"), DISCONNECT_TABLE
)
def test_disconnect_in_every_state(
    state: str,
    reported: dict[str, Any],
    delivered: dict[str, Any],
    after: State,
    closed_by: str,
    code: int | None,
) -> None:
    c = connection(state)
    assert c.disconnect_received(reported) == delivered
    assert (c.state, c.closed_by, c.code) == (after, closed_by, code)


# --- The app ends: returns, raises, is cancelled --------------------------------------------

# (state, what the guard sends when the app returns, state after, closed_by)
RETURN_TABLE = [
    ("handshake", close(1000, ""), State.REFUSED, "guard"),
    # The app's own denial response, ended for it: the app is who refused.
    ("denying", {"type": "websocket.http.response.body", "body": b""}, State.REFUSED, "app"),
    ("open", close(1000, ""), State.CLOSING, "guard"),
    ("closing", None, State.CLOSING, "app"),
    ("closed", None, State.CLOSED, "client"),
    ("refused", None, State.REFUSED, "app"),
]


@pytest.mark.parametrize(("state", "outgoing", "after", "closed_by"), RETURN_TABLE)
def test_return_in_every_state(
    state: str, outgoing: object, after: State, closed_by: str | None
) -> None:
    c = connection(state)
    assert c.returned() == outgoing
    assert (c.state, c.closed_by) == (after, closed_by)


class Boom(Exception):
    pass


# (state, exception, types of what the guard sends, state after, closed_by, http status)
RAISE_TABLE = [
    ("handshake", Boom(), ["websocket.http.response.start", "websocket.http.response.body"],
     State.REFUSED, "guard", 500),
    ("denying", Boom(), ["websocket.http.response.body"], State.REFUSED, "app", 401),
    ("open", Boom(), ["websocket.close"], State.CLOSING, "guard", None),
    ("open", TimeoutError(), ["websocket.close"], State.CLOSING, "guard", None),
    ("closing", Boom(), [], State.CLOSING, "app", None),
    ("closed", Boom(), [], State.CLOSED, "client", None),
]  # fmt: skip


@pytest.mark.parametrize(("state", "exc", "kinds", "after", "closed_by", "status"), RAISE_TABLE)
def test_raise_in_every_state(
    state: str,
    exc: Exception,
    kinds: list[str],
    after: State,
    closed_by: str | None,
    status: int | None,
) -> None:
    c = connection(state)
    sent = c.raised(exc, can_answer_http=True)
    assert [message["type"] for message in sent] == kinds
    assert (c.state, c.closed_by, c.http_status, c.exception) == (
        after,
        closed_by,
        status,
        type(exc),
    )


def test_mapped_exception_closes_with_its_code() -> None:
    c = connection("open")
    assert c.raised(TimeoutError(), can_answer_http=True) == [close(1013, "Try Again Later")]


def test_crash_before_accept_without_the_denial_extension_leaves_the_500_to_the_server() -> None:
    c = connection("handshake")
    assert c.raised(Boom(), can_answer_http=False) == []
    assert (c.state, c.closed_by, c.http_status) == (State.REFUSED, "server", 500)


# (state, what ended the app, what the guard sends, closed_by, exception in the record)
CANCEL_TABLE = [
    ("open", None, close(1012, "Service Restart"), "server", None),
    ("open", KeyboardInterrupt, None, "server", KeyboardInterrupt),
    ("handshake", None, None, "server", None),
    ("closing", None, None, "app", None),
    ("closed", None, None, "client", None),
]


@pytest.mark.parametrize(("state", "ended_by", "outgoing", "closed_by", "exception"), CANCEL_TABLE)
def test_cancellation_in_every_state(
    state: str,
    ended_by: type[BaseException] | None,
    outgoing: object,
    closed_by: str,
    exception: type[BaseException] | None,
) -> None:
    c = connection(state)
    assert c.cancelled(ended_by) == outgoing
    assert (c.closed_by, c.exception) == (closed_by, exception)


@pytest.mark.parametrize(
    ("state", "after", "closed_by"),
    [("open", State.CLOSED, "server"), ("refused", State.REFUSED, "app")],
)
def test_abandoned_by_the_server(state: str, after: State, closed_by: str) -> None:
    c = connection(state)
    c.abandoned()
    assert (c.state, c.closed_by) == (after, closed_by)


def test_echo_of_the_clients_close_is_recognised() -> None:
    from starlette.websockets import WebSocketDisconnect

    assert connection("closed").is_echo_of_the_close(WebSocketDisconnect(4001))
    assert not connection("closing").is_echo_of_the_close(WebSocketDisconnect(4001))
    assert not connection("closed").is_echo_of_the_close(Boom())


# --- What the server took, and what may still be sent ---------------------------------------

# (asked, the server took, code recorded, requested_code recorded, closed_by, state after)
DELIVERED_TABLE = [
    (4000, 4000, 4000, None, "app", State.CLOSING),
    (1012, 4012, 4012, 1012, "app", State.CLOSING),
    (4000, None, None, None, "server", State.CLOSED),
]


@pytest.mark.parametrize(
    ("asked", "took", "code", "requested", "closed_by", "after"), DELIVERED_TABLE
)
def test_close_delivered(
    asked: int, took: int | None, code: int | None, requested: object, closed_by: str, after: State
) -> None:
    c = connection("open")
    c.close_requested(close(asked, "why"))
    c.close_delivered(asked, took)
    assert (c.code, c.requested_code, c.closed_by, c.state) == (code, requested, closed_by, after)
    if took is not None:
        assert c.ended == disconnect(took, "why")


def test_a_replaced_code_keeps_what_the_app_asked_for_through_a_fallback() -> None:
    c = connection("open")
    c.close_requested(close(1006))  # replaced by 1011 first
    c.close_delivered(1011, 4011)
    assert (c.code, c.requested_code) == (4011, 1006)


def test_close_delivered_before_accept_changes_nothing() -> None:
    c = connection("refused")
    c.close_delivered(1000, None)
    assert (c.state, c.closed_by, c.code) == (State.REFUSED, "app", None)


# (state, kind, the refusal names)
REFUSAL_TABLE = [
    ("closing", "websocket.send", "closed with code 4000"),
    ("closed", "websocket.send", "client disconnected with code 4001"),
    ("refused", "websocket.accept", "answered with HTTP"),
]


@pytest.mark.parametrize(("state", "kind", "names"), REFUSAL_TABLE)
def test_nothing_goes_out_once_the_connection_ended(state: str, kind: str, names: str) -> None:
    with pytest.raises(WebSocketClosedError, match=names):
        connection(state).check_open_for(kind)


def test_after_a_failed_send_the_server_ended_it() -> None:
    c = connection("open")
    c.send_failed()
    with pytest.raises(WebSocketClosedError, match="server ended the connection"):
        c.check_open_for("websocket.send")


@pytest.mark.parametrize("state", ["handshake", "denying", "open"])
def test_messages_may_go_out_before_the_end(state: str) -> None:
    connection(state).check_open_for("websocket.send")


def test_denial_messages() -> None:
    c = connection("handshake")
    c.denial_started("not a status")
    assert (c.state, c.http_status) == (State.DENYING, None)
    c.denial_body_sent(True)
    assert c.state is State.DENYING
    c.denial_body_sent(False)
    assert (c.state, c.closed_by, c.ended) == (State.REFUSED, "app", disconnect(1000, ""))
    after_accept = connection("open")
    after_accept.denial_started(403)  # the server refuses it; the WebSocket stays open
    after_accept.denial_body_sent(False)
    assert after_accept.state is State.OPEN


def test_the_record() -> None:
    c = connection("closing")
    c.messages_sent, c.messages_received = 2, 3  # what the shell's hot path counts
    record = c.record(route="/rooms/{room}")
    assert (record.path, record.closed_by, record.code, record.reason, record.accepted) == (
        "/ws",
        "app",
        4000,
        "why",
        True,
    )
    assert (record.messages_sent, record.messages_received, record.route) == (2, 3, "/rooms/{room}")
    assert record.http_status is None
    refused = connection("refused").record(route=None)
    assert (refused.accepted, refused.http_status, refused.code) == (False, 403, None)
    assert (refused.messages_sent, refused.messages_received) == (0, 0)


# --- refuse_with="close": a refusal before accept answered with a close ---------------------

REFUSING = Policy(exception_closes={TimeoutError: (1013, "Try Again Later")}, strict=False,
                  expose_exception_text=False, refuse_with_close=True)  # fmt: skip
REFUSING_STRICT = Policy(exception_closes={}, strict=True, expose_exception_text=False,
                         refuse_with_close=True)  # fmt: skip
ACCEPT = {"type": "websocket.accept"}


def refuse_close(c: Connection, message: dict[str, Any]) -> object:
    return c.close_requested(message)


def refuse_return(c: Connection, _: object) -> object:
    return c.returned()


def refuse_raise(c: Connection, exc: Exception) -> object:
    # can_answer_http is ignored: the refusal is a close, with or without the extension.
    return c.raised(exc, can_answer_http=False)


# (event in the handshake, its argument, what goes out after the guard's accept, closed_by,
#  requested_code, exception in the record)
REFUSE_WITH_CLOSE_TABLE = [
    (refuse_close, close(4401, "login required"), close(4401, "login required"), "app", None,
     None),
    (refuse_close, {"type": "websocket.close"}, close(1000, ""), "app", None, None),
    (refuse_close, close(None, None), close(1000, ""), "app", None, None),
    (refuse_close, close(1006, "x" * 150), close(1011, "x" * 120 + "…"), "app", 1006, None),
    (refuse_close, close(1005), close(1000, ""), "app", 1005, None),
    (refuse_return, None, close(1008, "Policy Violation"), "guard", None, None),
    (refuse_raise, Boom(), [close(1011, "Internal Error")], "guard", None, Boom),
    (refuse_raise, TimeoutError(), [close(1013, "Try Again Later")], "guard", None,
     TimeoutError),
    # Starlette's WebSocketException carries the close the app chose.
    (refuse_raise, WebSocketException(4403, "no"), [close(4403, "no")], "guard", None,
     WebSocketException),
]  # fmt: skip


@pytest.mark.parametrize(
    ("event", "argument", "outgoing", "closed_by", "requested", "exception"),
    REFUSE_WITH_CLOSE_TABLE,
)
def test_a_refusal_answered_with_a_close(
    event: Callable[[Connection, Any], object],
    argument: Any,
    outgoing: object,
    closed_by: str,
    requested: object,
    exception: type[BaseException] | None,
) -> None:
    c = connection("handshake", REFUSING)
    assert c.closes_for_a_crash
    assert event(c, argument) == outgoing
    assert (c.state, c.closed_by, c.accepted, c.requested_code) == (
        State.CLOSING,
        closed_by,
        False,
        requested,
    )
    assert c.exception is exception
    sent = outgoing[0] if isinstance(outgoing, list) else outgoing
    assert isinstance(sent, dict)
    # The app's receive() gets the close that goes out; its sends are refused.
    assert c.ended == disconnect(sent["code"], sent["reason"])
    with pytest.raises(WebSocketClosedError, match=f"closed with code {sent['code']}"):
        c.check_open_for("websocket.accept")
    # The guard owes the client its accept first, once.
    assert c.take_owed_accept() == ACCEPT
    assert c.take_owed_accept() is None
    # The record: the app never accepted, no HTTP status, the code on the wire.
    record = c.record(route=None)
    assert (record.accepted, record.http_status, record.code, record.reason) == (
        False,
        None,
        sent["code"],
        sent["reason"],
    )


@pytest.mark.parametrize(
    ("offered", "accept"),
    [
        ([], ACCEPT),
        (["chat.v2", "chat.v1"], {**ACCEPT, "subprotocol": "chat.v2"}),
        (None, ACCEPT),
    ],
)
def test_the_refusals_accept_takes_the_first_subprotocol_offered(
    offered: list[str] | None, accept: dict[str, Any]
) -> None:
    # Chromium fails a handshake whose answer leaves out a subprotocol it asked for.
    scope = {"type": "websocket"} if offered is None else {"subprotocols": offered}
    c = Connection(REFUSING, "/ws", scope)
    c.close_requested(close(4401))
    assert c.take_owed_accept() == accept


def test_a_refusal_in_strict_mode_refuses_a_forbidden_code_and_stays_in_the_handshake() -> None:
    c = connection("handshake", REFUSING_STRICT)
    with pytest.raises(ForbiddenCloseCodeError):
        c.close_requested(close(1006))
    assert (c.state, c.closed_by, c.ended, c.owed_accept) == (State.HANDSHAKE, None, None, None)
    # A crash is never refused: nobody is left to catch the error, and the client needs a close.
    c.accept_sent()
    assert c.raised(WebSocketException(1006, ""), can_answer_http=True) == [close(1011, "")]


# (state, policy, what the app does, what goes out, state after) — what refuse_with="close"
# leaves as it was.
UNCHANGED_TABLE = [
    # A denial response the app started itself stays HTTP: the app chose it.
    ("denying", REFUSING, refuse_return, {"type": "websocket.http.response.body", "body": b""},
     State.REFUSED),
    ("denying", REFUSING, refuse_close, {"type": "websocket.http.response.body", "body": b""},
     State.REFUSED),
    # After accept, as always.
    ("open", REFUSING, refuse_return, close(1000, ""), State.CLOSING),
    # The client left during the handshake: nothing to refuse.
    ("closed", REFUSING, refuse_return, None, State.CLOSED),
    # The default: HTTP 403.
    ("handshake", POLICY, refuse_return, close(1000, ""), State.REFUSED),
]  # fmt: skip


@pytest.mark.parametrize(("state", "policy", "event", "outgoing", "after"), UNCHANGED_TABLE)
def test_what_refuse_with_close_leaves_as_it_was(
    state: str,
    policy: Policy,
    event: Callable[[Connection, Any], object],
    outgoing: object,
    after: State,
) -> None:
    c = connection(state, policy)
    assert event(c, close(4401)) == outgoing
    assert (c.state, c.owed_accept) == (after, None)


@pytest.mark.parametrize(
    ("state", "policy", "closes"),
    [
        ("handshake", POLICY, False),
        ("handshake", REFUSING, True),
        ("open", POLICY, True),
        ("denying", REFUSING, False),
        ("closing", REFUSING, False),
    ],
)
def test_whether_a_crash_is_answered_with_a_close(state: str, policy: Policy, closes: bool) -> None:
    assert connection(state, policy).closes_for_a_crash is closes


def test_a_refusal_whose_accept_did_not_go_out_was_ended_by_the_server() -> None:
    c = connection("handshake", REFUSING)
    c.close_requested(close(4401, "login required"))
    c.take_owed_accept()
    c.refusal_accept_failed()
    assert (c.state, c.closed_by, c.code, c.reason) == (State.CLOSED, "server", None, "")


def test_a_refusals_close_falls_back_like_any_close() -> None:
    # daphne takes only 1000 and 3000-4999: 1011 goes out as 4011.
    c = connection("handshake", REFUSING)
    c.raised(Boom(), can_answer_http=False)
    c.close_delivered(1011, 4011)
    assert (c.code, c.requested_code, c.ended) == (4011, 1011, disconnect(4011, "Internal Error"))


def test_a_refusal_then_the_clients_close() -> None:
    c = connection("handshake", REFUSING)
    c.close_requested(close(4401, "login required"))
    assert c.disconnect_received(disconnect(1005, "")) == disconnect(4401, "login required")
    assert (c.state, c.closed_by, c.code) == (State.CLOSED, "app", 4401)
    # A shutdown after the refusal sends nothing more.
    assert c.cancelled(None) is None


def test_the_client_left_before_the_refusals_accept() -> None:
    # The guard reads the handshake before its accept, when the app never did: a disconnect
    # there means nothing goes out, and the client ended the connection.
    c = connection("handshake", REFUSING)
    c.close_requested(close(4401, "login required"))
    assert not c.connect_seen
    c.left_before_the_refusal(disconnect(1001, "gone"))
    assert (c.state, c.closed_by, c.code, c.reason, c.owed_accept) == (
        State.CLOSED,
        "client",
        1001,
        "gone",
        None,
    )
    assert c.ended == disconnect(1001, "gone")


def test_the_handshakes_connect_is_noted() -> None:
    c = connection("handshake", REFUSING)
    c.connect_received()
    assert c.connect_seen
