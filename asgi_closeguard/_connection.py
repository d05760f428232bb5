"""One WebSocket connection's life as the guard sees it: its state, and what each event does.

The connection is always in one of a few states (:class:`State`), and who ended it is kept
beside. Every event — the app sends accept, a close or a denial response, the server hands over
a disconnect or its send fails, the app returns, raises or is cancelled — is a method that moves
the state and says what the guard must send, if anything. Nothing here awaits: the async shell
in ``_middleware.py`` does the I/O, so every decision is a plain method call, tested as a table
without an event loop.

::

    HANDSHAKE --accept--> OPEN --close sent--> CLOSING --disconnect--> CLOSED
        |                   |                     ^                    ^
        |                   +--disconnect, failed send-----------------+
        +--close / return / raise (HTTP 403 or 500)--> REFUSED
        +--close / return / raise, refuse_with="close"--+ (the guard's accept, then the close)
        +--denial response starts--> DENYING --last body chunk--> REFUSED

A refusal answered with a close (``refuse_with="close"``) goes through CLOSING like any close,
but the app never accepted: ``accepted`` stays false, and the accept the guard owes the client
waits in ``owed_accept`` until the shell sends it, right before the close.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ._codes import CloseCode, is_sendable, replacement_code, why_not_sendable
from ._errors import ForbiddenCloseCodeError, WebSocketClosedError
from ._frame import normalise_reason
from ._record import ClosedBy, CloseRecord
from ._route import route_template
from ._types import Message, Scope

if TYPE_CHECKING:
    from ._concurrency import Event

__all__ = ["Connection", "Policy", "State", "accept_message", "disconnect", "plain_name"]

logger = logging.getLogger("asgi_closeguard")

_NORMAL_CLOSURE: Final = int(CloseCode.NORMAL_CLOSURE)
_INTERNAL_ERROR: Final = int(CloseCode.INTERNAL_ERROR)
# ASGI spec 2.5: `websocket.disconnect` carries 1005 when the client's close frame had no code.
_NO_STATUS_RECEIVED: Final = int(CloseCode.NO_STATUS_RECEIVED)
# The close the guard sends when the server cancels the app of an open connection: a shutdown.
_SERVICE_RESTART: Final = int(CloseCode.SERVICE_RESTART)
# The close for an app that returns before accepting, with refuse_with="close": the handshake
# was refused, for no reason the app gave.
_POLICY_VIOLATION: Final = int(CloseCode.POLICY_VIOLATION)
_HTTP_FORBIDDEN: Final = 403
_HTTP_INTERNAL_SERVER_ERROR: Final = 500
_INTERNAL_ERROR_BODY: Final = b"Internal Server Error"


class State(enum.Enum):
    """Where a connection is in its life."""

    #: The app has not accepted yet.
    HANDSHAKE = "handshake"
    #: The app started an HTTP denial response (``websocket.http.response.start``) and has not
    #: sent its last body chunk yet.
    DENYING = "denying"
    #: Accepted; messages flow both ways.
    OPEN = "open"
    #: A close frame went out (the app's or the guard's); the client's answer is awaited.
    CLOSING = "closing"
    #: The closing handshake is over, or the connection is gone (the client left, a send
    #: failed, the server took no close).
    CLOSED = "closed"
    #: The handshake was answered with HTTP: 403 for a close or a return before accept, 500 for
    #: a crash before accept, or the app's own denial response. (With ``refuse_with="close"``
    #: those refusals are a close instead, and go through CLOSING.)
    REFUSED = "refused"


#: The states in which nothing more may go out but a (dropped) close.
_ENDED: Final = frozenset({State.CLOSING, State.CLOSED, State.REFUSED})


@dataclass(frozen=True, slots=True)
class Policy:
    """The middleware's options that decide what a connection sends, validated once."""

    exception_closes: Mapping[type[BaseException], tuple[int, str]]
    strict: bool
    expose_exception_text: bool
    #: ``refuse_with="close"``: a close, a crash or a return before accept is answered with the
    #: guard's accept and a close that carries the code, which a browser can read.
    refuse_with_close: bool = False


def disconnect(code: int, reason: str) -> Message:
    """The ``websocket.disconnect`` message ``receive()`` hands the app once a close is known."""
    return {"type": "websocket.disconnect", "code": code, "reason": reason}


def accept_message(scope: Scope | None) -> Message:
    """The ``websocket.accept`` the guard sends on the app's behalf, so that a close can follow.

    The first subprotocol the client offered is accepted: Chromium fails a handshake whose
    answer leaves out a subprotocol it asked for (RFC 6455 §4.1 lets the client fail it), and
    the page then reports 1006 instead of the close that follows.
    """
    accept: Message = {"type": "websocket.accept"}
    offered = (scope or {}).get("subprotocols") or ()
    if offered:
        accept["subprotocol"] = offered[0]
    return accept


class Connection:
    """One WebSocket connection: its state, who ended it, and what went out on the wire."""

    __slots__ = (
        "accepted",
        "closed_by",
        "code",
        "connect_seen",
        "ended",
        "exception",
        "http_status",
        "interrupted",
        "messages_received",
        "messages_sent",
        "owed_accept",
        "path",
        "policy",
        "reading",
        "reason",
        "requested_code",
        "scope",
        "started",
        "state",
        "waiter",
    )

    def __init__(self, policy: Policy, path: str, scope: Scope | None = None) -> None:
        self.policy = policy
        self.path = path
        #: The connection's scope, read only to name the route in a warning.
        self.scope = scope
        self.started = time.perf_counter()
        self.state = State.HANDSHAKE
        self.accepted = False
        self.closed_by: ClosedBy | None = None
        #: The close code and reason on the wire (sent, or reported for the client's close).
        self.code: int | None = None
        self.reason = ""
        self.requested_code: object = None
        self.http_status: int | None = None
        self.exception: type[BaseException] | None = None
        #: The `websocket.disconnect` that `receive()` hands out once the connection is over.
        self.ended: Message | None = None
        #: Set by the shell while it waits for a read in flight to bring the client's close.
        self.waiter: Event | None = None
        #: A cancellation reached the guard: from then on nothing may wait.
        self.interrupted = False
        #: The accept the guard owes the client before the close of a refusal answered with a
        #: close (``refuse_with="close"``); ``None`` once the shell took it, or if none is owed.
        self.owed_accept: Message | None = None
        #: Whether the handshake's ``websocket.connect`` was read (by the app, or by the guard
        #: before the accept of a refusal).
        self.connect_seen = False
        # Kept by the shell's hot path. Whether a receive() is waiting on the server, which the
        # wait for the client's close needs (Quart, Falcon and Channels keep one pending in
        # another task); one flag, not a count: ASGI servers refuse a second receive() while
        # one is pending (websockets raises RuntimeError). And the messages of the app, counted
        # only when a record will be handed to someone.
        self.reading = False
        self.messages_sent = 0
        self.messages_received = 0

    # --- The app sends ---------------------------------------------------------------------

    def refusal(self, kind: str) -> WebSocketClosedError:
        """The error for a message the app may no longer send: the connection is over."""
        if self.closed_by == "client":
            why = f"the client disconnected with code {self.code}"
        elif self.closed_by == "server":
            why = "the server ended the connection"
        elif self.state is State.REFUSED:
            why = "the handshake was answered with HTTP"
        else:
            why = f"it was closed with code {self.code}"
        return WebSocketClosedError(f"cannot send {kind!r} on this WebSocket: {why}")

    def check_open_for(self, kind: str) -> None:
        """Raise :class:`WebSocketClosedError` when a message of ``kind`` may no longer go out."""
        # A client that left during a denial response leaves the state DENYING (the response
        # is still owed its end) with the disconnect in `ended`.
        if self.state in _ENDED or self.ended is not None:
            raise self.refusal(kind)

    def accept_sent(self) -> None:
        """The server took the app's ``websocket.accept`` (also after a denial response started,
        which a real server refuses, but an in-memory one may take)."""
        if self.state in (State.HANDSHAKE, State.DENYING):
            self.state = State.OPEN
            self.accepted = True

    def close_requested(self, message: Message) -> Message | None:
        """The app sends ``websocket.close``: return what goes to the server, or ``None`` to
        drop it. In strict mode a code that may not go on the wire raises
        :class:`ForbiddenCloseCodeError` and leaves the connection as it was."""
        state = self.state
        if state is State.OPEN:
            code, reason, replaced = self._outgoing_close(message, may_refuse=True)
            self._closing("app", code, reason)
            self.requested_code = replaced
            return {"type": "websocket.close", "code": code, "reason": reason}
        if state is State.HANDSHAKE:
            if self.policy.refuse_with_close:
                # As after accept: a code that may not be sent is replaced (or, strict, refused
                # with the handshake left as it was).
                code, reason, replaced = self._outgoing_close(message, may_refuse=True)
                self.requested_code = replaced
                return self._refuse_with_close("app", code, reason)
            return self._close_before_accept(message)
        if state is State.DENYING:
            # The handshake is being answered with HTTP: no close frame can follow (uvicorn
            # raises on one) and the client is still reading the response. End the response.
            if self.closed_by is None:
                self.closed_by = "app"
            return self._finish_denial()
        # RFC 6455 §5.5.1: an endpoint sends one close frame. Servers raise, ignore or crash on
        # another; the guard drops it.
        if self.closed_by in ("app", "guard"):
            logger.debug("dropped a second websocket.close on %s", self.path)
        else:
            logger.debug(
                "dropped websocket.close on %s: the %s had already ended the connection",
                self.path,
                self.closed_by,
            )
        return None

    def _close_before_accept(self, message: Message) -> Message:
        # Before accept no close code reaches the wire: the server answers HTTP 403. Test
        # clients (Starlette's TestClient) do show the code, so it passes as the app sent it.
        asked = message.get("code")
        reason = message.get("reason")
        self.state = State.REFUSED
        self.closed_by = "app"
        self.http_status = _HTTP_FORBIDDEN
        code = _NORMAL_CLOSURE if asked is None else asked
        reason = "" if reason is None else reason
        self.ended = {"type": "websocket.disconnect", "code": code, "reason": reason}
        return {**message, "code": code, "reason": reason}

    def _refuse_with_close(self, closed_by: ClosedBy, code: int, reason: str) -> Message:
        """``refuse_with="close"``: answer the refusal with the guard's accept (owed until the
        shell sends it) and the close ``code``, instead of HTTP.

        A browser never shows a handshake's HTTP status to the page: a 403 or a 500 is 1006 in
        its ``CloseEvent``, and the app's 4401 "login required" would be lost.
        """
        self.owed_accept = accept_message(self.scope)
        self._closing(closed_by, code, reason)
        return {"type": "websocket.close", "code": code, "reason": reason}

    def connect_received(self) -> None:
        """The server handed over the handshake's ``websocket.connect``."""
        self.connect_seen = True

    def left_before_the_refusal(self, message: Message) -> None:
        """The guard read the handshake for a refusal and got the client's disconnect: it left
        before the guard's accept, and nothing goes out."""
        self.owed_accept = None
        self.state, self.closed_by, self.ended = State.HANDSHAKE, None, None
        self.disconnect_received(message)

    def take_owed_accept(self) -> Message | None:
        """The accept owed before the close of a refusal, once; ``None`` if none is owed."""
        accept, self.owed_accept = self.owed_accept, None
        return accept

    def refusal_accept_failed(self) -> None:
        """The guard's accept of a refusal could not go out (the server's send or receive
        failed): no close can follow, the server ended the connection."""
        self._gone()

    def close_delivered(self, asked: int, sent: int | None) -> None:
        """The shell sent the close for ``asked``; the server took ``sent`` (a fallback), or
        no close at all (``None``: the connection was gone, or every code was refused)."""
        if sent == asked or self.state not in (State.CLOSING, State.CLOSED):
            return
        if sent is None:
            self._gone()
            return
        if self.requested_code is None:
            self.requested_code = asked
        self.code = sent
        # receive() reports the close that went out: the server's fallback.
        self.ended = disconnect(sent, self.reason)

    def _gone(self) -> None:
        # No close frame went out: the server is who ended the connection.
        self.state = State.CLOSED
        self.closed_by, self.code, self.reason = "server", None, ""

    def denial_started(self, status: object) -> None:
        """The app sent ``websocket.http.response.start``."""
        self.http_status = status if isinstance(status, int) else None
        # After accept there is no handshake left to answer: the server refuses the message,
        # and the guard still owes the WebSocket its close.
        if self.state is State.HANDSHAKE:
            self.state = State.DENYING

    def denial_body_sent(self, more_body: object) -> None:
        """The app sent a ``websocket.http.response.body`` chunk."""
        if self.state is State.DENYING and not more_body:
            self.state = State.REFUSED
            self.closed_by = "app"
            self.ended = disconnect(_NORMAL_CLOSURE, "")

    def _finish_denial(self) -> Message:
        # The app started a denial response and stopped before its last body chunk: end it, or
        # the client waits for the rest. The answer is still the app's (its status), so the app
        # is who refused; a client that left meanwhile keeps its own close, in the record and
        # in what receive() hands out.
        self.state = State.REFUSED
        if self.closed_by is None:
            self.closed_by = "app"
        if self.ended is None:
            self.ended = disconnect(_NORMAL_CLOSURE, "")
        return {"type": "websocket.http.response.body", "body": b""}

    # --- The server reports ----------------------------------------------------------------

    def disconnect_received(self, message: Message) -> Message:
        """The server handed over ``websocket.disconnect``: return what the app receives."""
        if self.state is State.CLOSING:
            # The answer to the close that went out, possibly through a receive() that was in
            # flight in another task when it went out (Quart, Falcon, Channels' channel layers,
            # engine.io read ahead): the app gets the close it sent, the record keeps it.
            self.state = State.CLOSED
            return dict(self.ended or message)
        if self.ended is not None:
            return dict(self.ended)
        code = message.get("code")
        reason = message.get("reason")
        if code is None or reason is None:
            # ASGI 2.5 defaults; daphne leaves the reason out and hypercorn the code.
            message = {
                **message,
                "code": _NO_STATUS_RECEIVED if code is None else code,
                "reason": "" if reason is None else reason,
            }
        if self.closed_by is None:
            # 1012 "Service Restart" is a server's code, never a client's: uvicorn sends it to
            # every client when it shuts down and reports it to the app as the disconnect.
            self.closed_by = "server" if message["code"] == _SERVICE_RESTART else "client"
        self.code, self.reason = message["code"], message["reason"]
        if self.state is not State.DENYING:  # a denial response is still owed its end
            self.state = State.CLOSED
        self.ended = message
        return message

    def send_failed(self) -> None:
        """The server's send of a ``websocket.send`` raised an ``OSError``: the client is gone."""
        self.state = State.CLOSED
        self.closed_by = "server"

    # --- The app ends ----------------------------------------------------------------------

    def returned(self) -> Message | None:
        """The app returned: what the guard must still send for it, if anything."""
        state = self.state
        if state is State.DENYING:
            return self._finish_denial()
        if state is State.OPEN:
            # The handler returned without closing: uvicorn sends no close frame (1006 in the
            # browser), hypercorn 1011, daphne keeps the socket open.
            self._closing("guard", _NORMAL_CLOSURE, "")
            return {"type": "websocket.close", "code": _NORMAL_CLOSURE, "reason": ""}
        if state is State.HANDSHAKE:
            if self.policy.refuse_with_close:
                # The app gave no code: it refused the connection, by its own policy.
                return self._refuse_with_close(
                    "guard", _POLICY_VIOLATION, plain_name(_POLICY_VIOLATION)
                )
            # ASGI: returning before accept is a 403, which a close before accept asks for.
            self.state = State.REFUSED
            self.closed_by = "guard"
            self.http_status = _HTTP_FORBIDDEN
            self.ended = disconnect(_NORMAL_CLOSURE, "")
            return {"type": "websocket.close", "code": _NORMAL_CLOSURE, "reason": ""}
        return None

    @property
    def closes_for_a_crash(self) -> bool:
        """Whether a crash now is answered with a close frame: after accept, or before it with
        ``refuse_with="close"`` (rather than with HTTP 500, or nothing)."""
        state = self.state
        return state is State.OPEN or (state is State.HANDSHAKE and self.policy.refuse_with_close)

    def is_echo_of_the_close(self, exc: BaseException) -> bool:
        """Whether ``exc`` only echoes the close of the client or the server (Starlette's
        ``WebSocketDisconnect``), which is not an error of the app. So is the guard's own
        :class:`WebSocketClosedError` after the server's side closed (a drain, a shutdown): the
        app's next send was refused, as raw servers refuse it with an error they do not log."""
        if self.closed_by == "server" and isinstance(exc, WebSocketClosedError):
            return True
        return self.closed_by in ("client", "server") and _has_base(
            exc, "starlette.websockets", "WebSocketDisconnect"
        )

    def raised(self, exc: Exception, *, can_answer_http: bool) -> list[Message]:
        """The app raised ``exc``: the messages the guard must send for it, in order.

        ``can_answer_http``: the server offers the ``websocket.http.response`` extension, so a
        crash before accept can be answered with a real HTTP 500.
        """
        self.exception = type(exc)
        state = self.state
        if state is State.OPEN:
            code, reason, self.requested_code = self._close_for_exception(exc)
            self._closing("guard", code, reason)
            return [{"type": "websocket.close", "code": code, "reason": reason}]
        if state is State.DENYING:
            return [self._finish_denial()]
        if state is not State.HANDSHAKE:
            return []
        if self.policy.refuse_with_close:
            # The close a crash after accept gets: exception_codes apply.
            code, reason, self.requested_code = self._close_for_exception(exc)
            return [self._refuse_with_close("guard", code, reason)]
        self.state = State.REFUSED
        self.http_status = _HTTP_INTERNAL_SERVER_ERROR
        if not can_answer_http:
            # No denial extension (daphne): the re-raised exception makes the server answer
            # 500 itself. A close here would be a 403, which says "forbidden".
            self.closed_by = "server"
            return []
        self.closed_by = "guard"
        return [
            {
                "type": "websocket.http.response.start",
                "status": _HTTP_INTERNAL_SERVER_ERROR,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(_INTERNAL_ERROR_BODY)).encode()),
                ],
            },
            {"type": "websocket.http.response.body", "body": _INTERNAL_ERROR_BODY},
        ]

    def cancelled(self, ended_by: type[BaseException] | None) -> Message | None:
        """The server cancelled the app (``ended_by`` is ``None``), or ``ended_by``, a
        ``BaseException`` that is not an ``Exception``, ended it.

        A cancellation of an open connection is the server shutting down (hypercorn at its
        graceful timeout, daphne at once): the guard sends 1012 "Service Restart", the code
        that tells clients to come back. ``KeyboardInterrupt`` and ``SystemExit`` end the
        process: nothing is sent, and their type goes in the record.
        """
        if self.closed_by is None:
            self.closed_by = "server"
        if ended_by is not None:
            self.exception = ended_by
            return None
        return self._service_restart()

    def drained(self) -> Message | None:
        """A drain closes the connection before the server stops: 1012 "Service Restart" if
        it is open, nothing if it is closing or over already (each connection closes once)."""
        return self._service_restart()

    def _service_restart(self) -> Message | None:
        if self.state is not State.OPEN:
            return None
        reason = plain_name(_SERVICE_RESTART)
        self._closing("server", _SERVICE_RESTART, reason)
        return {"type": "websocket.close", "code": _SERVICE_RESTART, "reason": reason}

    def abandoned(self) -> None:
        """The server shut down and will never resume the app (granian drops the sockets and
        abandons the handlers): the server ended the connection."""
        if self.closed_by is None:
            self.closed_by = "server"
        if self.state is not State.REFUSED:
            self.state = State.CLOSED

    def _closing(self, closed_by: ClosedBy, code: int, reason: str) -> None:
        self.state = State.CLOSING
        self.closed_by = closed_by
        self.code, self.reason = code, reason
        self.ended = disconnect(code, reason)

    # --- The record ------------------------------------------------------------------------

    def record(self, *, route: str | None) -> CloseRecord:
        """The connection's one :class:`CloseRecord`, as things stand now."""
        return CloseRecord(
            path=self.path,
            closed_by=self.closed_by or "server",
            code=self.code,
            reason=self.reason,
            requested_code=self.requested_code,
            exception=self.exception,
            accepted=self.accepted,
            http_status=None if self.accepted else self.http_status,
            duration=time.perf_counter() - self.started,
            messages_sent=self.messages_sent,
            messages_received=self.messages_received,
            route=route,
        )

    # --- What to send for a close -----------------------------------------------------------

    def _outgoing_close(self, message: Message, *, may_refuse: bool) -> tuple[int, str, object]:
        """The code and reason to send for the app's ``websocket.close``, and the code it asked
        for when that had to be replaced (``None`` otherwise).

        ``may_refuse=False`` replaces a forbidden code even in strict mode: once the app has
        raised, nobody is left to catch the refusal, and the client still needs a close."""
        asked = message.get("code")
        if asked is None:
            code, replaced = _NORMAL_CLOSURE, None  # ASGI: the default close code is 1000
        elif is_sendable(asked):
            # An IntEnum member goes out as a plain int: daphne (autobahn) refuses any code
            # whose type is not exactly int.
            code, replaced = int(asked), None
        else:
            rule = why_not_sendable(asked) or ""
            if self.policy.strict and may_refuse:
                raise ForbiddenCloseCodeError(asked, rule)
            code, replaced = replacement_code(asked), asked
            logger.warning(
                "close code %r replaced with %d on %s: %s", asked, code, self._where(), rule
            )
        return code, normalise_reason(message.get("reason")), replaced

    def _where(self) -> str:
        """The path, and the route's template when it is known: where a warning comes from."""
        route = None if self.scope is None else route_template(self.scope)
        return self.path if route is None else f"{self.path} (route {route})"

    def _close_for_exception(self, exc: Exception) -> tuple[int, str, object]:
        """The close code and reason for an exception the app raised after accept, and the code
        that was asked for when it had to be replaced."""
        if _has_base(exc, "starlette.exceptions", "WebSocketException"):
            # Starlette's WebSocketException carries the close the app chose: keep it.
            message = {"code": getattr(exc, "code", None), "reason": getattr(exc, "reason", None)}
            return self._outgoing_close(message, may_refuse=False)
        code, reason = _INTERNAL_ERROR, plain_name(_INTERNAL_ERROR)
        for cls in type(exc).__mro__:
            mapped = self.policy.exception_closes.get(cls)
            if mapped is not None:
                code, reason = mapped
                break
        if self.policy.expose_exception_text:
            reason = normalise_reason(_exception_text(exc))
        return code, reason, None


def plain_name(code: int) -> str:
    """ "Internal Error" for 1011: the reason sent with a code, never an exception's text."""
    try:
        return CloseCode(code).name.replace("_", " ").title()
    except ValueError:
        return ""


def _exception_text(exc: Exception) -> str:
    """ "ValueError: bad input", or just the type's name when ``str(exc)`` itself raises."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # a broken __str__ must not replace the app's exception with its own
        return type(exc).__name__


def _has_base(exc: BaseException, module: str, name: str) -> bool:
    # Matched by name so that the package imports no framework.
    return any(cls.__module__ == module and cls.__name__ == name for cls in type(exc).__mro__)
