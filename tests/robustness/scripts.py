"""Generated app scripts and peers, a model of the close contract, and the guard's invariants.

A *script* is what an app does, step by step: accept, send, close with any code and reason,
receive, or raise, and how the guard is configured (``refuse_with`` included). A *peer* is what
the client and the server do: the subprotocols the client offers, the messages it sends, whether
it disconnects (and where, relative to the app's receives), whether the server's send starts
failing with an ``OSError`` after some messages, what ``receive()`` raises once the client has
nothing more to say. :func:`play` runs one script behind ``CloseGuardMiddleware`` on the
in-memory server while a small model of the contract predicts, step by step, what each call must
return or raise and what must reach the server; :func:`check_invariants` then checks the promises
of the issue on what actually reached the server, independently of the model.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

import anyio
from hypothesis import settings
from hypothesis import strategies as st
from starlette.exceptions import WebSocketException
from starlette.websockets import WebSocketDisconnect

from asgi_closeguard import (
    CloseCode,
    CloseGuardMiddleware,
    CloseRecord,
    ForbiddenCloseCodeError,
    WebSocketClosedError,
)
from asgi_closeguard._codes import fallback_code
from asgi_closeguard._frame import normalise_reason
from asgi_closeguard._types import Message, Receive, Scope, Send
from tests.harness import CONNECT, DENIAL_EXTENSION, InMemoryServer

__all__ = [
    "SECRET",
    "Peer",
    "Played",
    "Script",
    "allowed_on_wire",
    "check_invariants",
    "peers",
    "play",
    "profile",
    "scripts",
]

#: Carried by every exception a script raises: it must never reach the client unless the
#: guard is configured with ``expose_exception_text=True``.
SECRET: Final = "s3cr3t-token-hunter2"
#: Stands for "the key is left out of the message".
MISSING: Final = "<missing>"


def profile() -> settings:
    """The Hypothesis settings the properties run with: ``HYPOTHESIS_PROFILE``, else ``ci``."""
    return settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def allowed_on_wire(code: object) -> bool:
    """RFC 6455 §7.4, written out again here so the check does not trust the package's table."""
    return type(code) is int and (
        1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999
    )


# --- What can go wrong ---------------------------------------------------------------------


class Boom(Exception):
    """A plain application error."""


class SlowUpstream(TimeoutError):
    """A subclass, so the MRO lookup of ``exception_codes`` has something to walk."""


class UnprintableError(Exception):
    """An exception whose ``str()`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ failed")


class ModelMismatch(BaseException):
    """Stops a script whose call did not do what the model predicted (a test failure)."""


EXCEPTION_CODES: Final[list[Mapping[type[BaseException], Any] | None]] = [
    None,
    {TimeoutError: 1013},
    {TimeoutError: 1013, SlowUpstream: (4008, "slow upstream")},
    {OSError: (1014, "é" * 100), PermissionError: (1008, "Forbidden \ud800")},
    {Exception: 4000},
]

_BOUNDARY_CODES: Final = [
    -1, 0, 999, 1000, 1003, 1004, 1005, 1006, 1007, 1014, 1015, 1016, 2999, 3000, 3999,
    4000, 4999, 5000, 65535, 65536, 2**63,
]  # fmt: skip

present_codes = st.one_of(
    st.sampled_from(_BOUNDARY_CODES),
    st.integers(min_value=-70_000, max_value=70_000),
    st.integers(),
    st.sampled_from(list(CloseCode)),
    st.none(),
    st.booleans(),
    st.text(max_size=6),
    st.floats(),
)
codes = st.one_of(present_codes, st.just(MISSING))

_any_character = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
    st.sampled_from("é€😀\u0000\u200b"),
)
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(_any_character, max_size=8))

reasons = st.one_of(
    st.just(MISSING),
    st.none(),
    st.text(_any_character, max_size=200),
    st.text(st.sampled_from("aé😀"), min_size=30, max_size=200),  # long, multi-byte
    st.text(st.sampled_from("a€😀\ud800"), min_size=200, max_size=4000),  # far too long
    st.binary(max_size=200),
    st.lists(_json_leaf, max_size=6),
    st.dictionaries(st.text(max_size=6), _json_leaf, max_size=6),
    st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=3), max_leaves=8),
)


def _exception_builders() -> st.SearchStrategy[BaseException]:
    plain: list[st.SearchStrategy[BaseException]] = [
        st.builds(Boom, st.just(SECRET)),
        st.builds(ValueError, st.just(SECRET)),
        st.builds(TimeoutError, st.just(SECRET)),
        st.builds(SlowUpstream, st.just(SECRET)),
        st.builds(PermissionError, st.just(SECRET)),
        st.builds(ConnectionResetError, st.just(SECRET)),
        st.builds(RuntimeError, st.text(max_size=300).map(lambda t: t + SECRET)),
        st.builds(UnprintableError),
        st.builds(WebSocketDisconnect, st.sampled_from([1000, 1001, 1006]), st.just(SECRET)),
        st.builds(
            WebSocketException,
            present_codes,
            st.one_of(st.none(), st.text(_any_character, max_size=200)),
        ),
    ]
    base: list[st.SearchStrategy[BaseException]] = [
        st.builds(asyncio.CancelledError),
        st.builds(KeyboardInterrupt),
        st.builds(SystemExit),
        st.builds(GeneratorExit),
    ]
    return st.one_of(*plain, *base)


exceptions = _exception_builders()

steps = st.one_of(
    st.just(("accept",)),
    st.tuples(st.just("send"), st.text(max_size=20)),
    st.tuples(st.just("close"), codes, reasons),
    st.just(("receive",)),
    st.tuples(st.just("raise"), exceptions),
    # The denial-response extension: an HTTP answer to the handshake, possibly in chunks.
    st.tuples(st.just("deny-start"), st.sampled_from([401, 403, 429])),
    st.tuples(st.just("deny-body"), st.booleans()),
)


@dataclass
class Script:
    """What the app does, and how the guard is configured."""

    steps: list[tuple[Any, ...]]
    #: Whether the app catches the errors its own send() and receive() raise and goes on.
    catches: bool
    options: dict[str, Any]


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    """An app script: up to a dozen steps, usually starting with receive and accept."""
    prefix: list[tuple[Any, ...]] = draw(
        st.sampled_from([[("receive",), ("accept",)], [("receive",)], []])
    )
    return Script(
        steps=prefix + draw(st.lists(steps, max_size=12)),
        catches=draw(st.booleans()),
        options={
            "strict": draw(st.booleans()),
            "reraise": draw(st.booleans()),
            "expose_exception_text": draw(st.booleans()),
            "exception_codes": draw(st.sampled_from(EXCEPTION_CODES)),
            "refuse_with": draw(st.sampled_from(["http", "close"])),
        },
    )


@dataclass
class Peer:
    """What the client and the server do."""

    client: list[Message]
    send_error: OSError | None
    fail_sends_after: int
    receive_error: Exception
    extensions: Mapping[str, Any] | None
    #: Close codes the server raises on instead of sending (daphne takes 1000, 3000-4999 only).
    refuses_close: Callable[[int], bool] | None = None
    #: The subprotocols the client offers in its handshake.
    subprotocols: list[str] = field(default_factory=list)


@st.composite
def peers(draw: st.DrawFn) -> Peer:
    """A client that says a few things and may disconnect; a server whose send may fail."""
    messages: list[Message] = [
        {"type": "websocket.receive", "text": text}
        for text in draw(st.lists(st.text(max_size=10), max_size=4))
    ]
    if draw(st.booleans()):
        disconnect: Message = {"type": "websocket.disconnect"}
        # 1012 is a server's code (uvicorn's at shutdown): the server, not the client, closed.
        code = draw(st.sampled_from([1000, 1001, 1005, 1006, 1012, 4001, None, MISSING]))
        reason = draw(st.sampled_from(["", "bye", None, MISSING]))
        if code != MISSING:
            disconnect["code"] = code
        if reason != MISSING:
            disconnect["reason"] = reason
        messages.append(disconnect)
    send_error = draw(
        st.one_of(
            st.none(),
            st.sampled_from([ConnectionResetError, BrokenPipeError, OSError]).map(
                lambda cls: cls("peer gone")
            ),
        )
    )
    return Peer(
        client=[CONNECT, *messages],
        send_error=send_error,
        fail_sends_after=draw(st.integers(min_value=0, max_value=8)),
        receive_error=draw(
            st.sampled_from([OSError("receive failed"), RuntimeError("receive failed")])
        ),
        extensions=draw(st.sampled_from([DENIAL_EXTENSION, None])),
        refuses_close=draw(st.sampled_from([None, None, None, refused_like_daphne])),
        subprotocols=draw(st.sampled_from([[], ["chat"], ["chat", "chat.v2"]])),
    )


def refused_like_daphne(code: int) -> bool:
    """daphne 4.2.3 raises for every close code but 1000 and 3000-4999."""
    return not (code == 1000 or 3000 <= code <= 4999)


# --- The model -----------------------------------------------------------------------------


@dataclass
class Played:
    """One connection: what reached the server, what escaped, what the model expected."""

    server: InMemoryServer
    escaped: BaseException | None
    records: list[CloseRecord]
    #: ("same", message): that very object; ("equal", message): an equal dict;
    #: ("denial-start", status) / ("denial-body", body): the guard's HTTP answer.
    expected: list[tuple[str, Any]]
    expected_escape: BaseException | None
    mismatches: list[str]
    #: The close the model says must follow an unhandled exception with the client still there.
    crash_close: int | None = None
    #: Whether the app's accept went out, and whether a refusal before accept was answered with
    #: the guard's accept and a close (``refuse_with="close"``).
    accepted: bool = False
    refused_with_close: bool = False
    #: Labels for ``hypothesis.event``, to see what the examples covered.
    events: list[str] = field(default_factory=list)


def _plain_name(code: int) -> str:
    try:
        return CloseCode(code).name.replace("_", " ").title()
    except ValueError:
        return ""


def _sendable(asked: object) -> TypeGuard[int]:
    # An IntEnum member is a code; a bool never is, though True == 1.
    return isinstance(asked, int) and not isinstance(asked, bool) and allowed_on_wire(int(asked))


def _wire_code(asked: object) -> int:
    """The code the guard puts on the wire when the app asks for ``asked`` (and is not refused)."""
    if asked is None or asked is MISSING:
        return 1000
    if _sendable(asked):
        return int(asked)
    if isinstance(asked, int) and not isinstance(asked, bool) and asked == 1005:
        return 1000
    return 1011


def _exception_text(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__


def _disconnect(code: object, reason: object) -> Message:
    return {"type": "websocket.disconnect", "code": code, "reason": reason}


class _Model:
    """The close contract, small enough to read at a glance, run beside the guard."""

    def __init__(self, script: Script, peer: Peer) -> None:
        self.script = script
        self.peer = peer
        self.inbox = list(peer.client)
        self.accepted = False
        self.closed = False
        self.closed_by: str | None = None
        self.ended: Message | None = None
        self.denial_open = False  # a denial response started and its last body is not out
        #: refuse_with="close": a refusal before accept is the guard's accept and a close.
        self.refuses_with_close = script.options["refuse_with"] == "close"
        #: Such a refusal happened (whether or not the server took its accept and close).
        self.refused_with_close = False
        #: The handshake's websocket.connect was read, by the app or by the guard.
        self.connect_read = False
        self.expected: list[tuple[str, Any]] = []
        self.mismatches: list[str] = []

    def server_fails(self) -> bool:
        return self.peer.send_error is not None and len(self.expected) >= self.peer.fail_sends_after

    def deliver(self, kind: str, message: Any) -> bool:
        if self.server_fails():
            return False
        self.expected.append((kind, message))
        return True

    # Each step returns what the call must raise (None: it must not raise), and records what
    # must reach the server.
    def accept(self, message: Message) -> BaseException | type[BaseException] | None:
        if self.closed:
            return WebSocketClosedError
        if self.server_fails():
            return self.peer.send_error  # the server's own error, unwrapped
        self.expected.append(("same", message))
        # An accept that a server took ends any denial response begun before it.
        self.accepted, self.denial_open = True, False
        return None

    def send(self, message: Message) -> BaseException | type[BaseException] | None:
        if self.closed:
            return WebSocketClosedError
        if self.server_fails():
            # The failing send raises the server's own exception, unchanged; an OSError means
            # the client is gone (a denial response under way included: nothing can reach it),
            # and every later send raises the guard's WebSocketClosedError.
            if isinstance(self.peer.send_error, OSError):
                self.closed, self.closed_by = True, "server"
                self.denial_open = False
            return self.peer.send_error
        self.expected.append(("same", message))
        return None

    def deny_start(self, message: Message) -> BaseException | type[BaseException] | None:
        if self.closed:
            return WebSocketClosedError
        self.denial_open = not self.accepted  # after accept, the WebSocket still needs its close
        if self.server_fails():
            return self.peer.send_error
        self.expected.append(("same", message))
        return None

    def deny_body(self, message: Message) -> BaseException | type[BaseException] | None:
        if self.closed:
            return WebSocketClosedError
        if self.server_fails():
            return self.peer.send_error
        self.expected.append(("same", message))
        # Only a denial response that started before accept ends the handshake; any other
        # body chunk is the server's to refuse.
        if not message["more_body"] and self.denial_open:
            self.denial_open = False
            self.closed, self.closed_by = True, "app"
            self.ended = _disconnect(1000, "")
        return None

    def finish_denial(self) -> None:
        self.denial_open = False
        self.closed = True
        self.deliver("equal", {"type": "websocket.http.response.body", "body": b""})

    def close(self, code: object, reason: object) -> BaseException | type[BaseException] | None:
        if self.denial_open:
            # The handshake is being answered with HTTP: the guard ends that response instead,
            # also when the client left during it (the response is still owed its end). A
            # client that left keeps its own close: receive() goes on reporting it.
            if self.closed_by is None:
                self.closed_by = "app"
            if self.ended is None:
                self.ended = _disconnect(1000, "")
            self.finish_denial()
            return None
        if self.closed:
            return None  # a second close is dropped
        asked = None if code is MISSING else code
        if not self.accepted and not self.refuses_with_close:
            self.close_before_accept(asked, None if reason is MISSING else reason)
            return None
        # After accept, and before it with refuse_with="close", the code goes on the wire.
        if asked is not None and not _sendable(asked) and self.script.options["strict"]:
            return ForbiddenCloseCodeError  # nothing sent, the connection as it was
        wire = _wire_code(asked)
        text = normalise_reason(None if reason is MISSING else reason)
        self.closed, self.closed_by = True, "app"
        self.ended = _disconnect(wire, text)
        if self.accepted:
            self.close_goes_out(wire, text, fallback=True)
        else:
            self.refuse(wire, text, fallback=True)
        return None

    def close_before_accept(self, asked: object, reason: object) -> None:
        # refuse_with="http": no code reaches the wire before accept (the server answers 403):
        # the app's own code passes, a missing one becomes 1000; strict mode has nothing to
        # refuse.
        code = 1000 if asked is None else asked
        text = "" if reason is None else reason
        self.closed, self.closed_by = True, "app"
        self.ended = _disconnect(code, text)
        if self.server_fails() or self._refused(code):
            return
        self.expected.append(("equal", {"type": "websocket.close", "code": code, "reason": text}))

    def refuse(self, code: int, reason: str, *, fallback: bool) -> int | None:
        """refuse_with="close": the guard answers a refusal before accept with its own accept
        (the first subprotocol the client offered, if any), then the close ``code``. Returns
        the code that reached the server, if any."""
        self.refused_with_close = True
        if not self.connect_read:
            # The app refused without reading the handshake: the guard reads its
            # websocket.connect first, as an accepting app would (every peer starts with it).
            self.inbox.pop(0)
            self.connect_read = True
        accept: Message = {"type": "websocket.accept"}
        if self.peer.subprotocols:
            accept["subprotocol"] = self.peer.subprotocols[0]
        if not self.deliver("equal", accept):
            # No answer to the handshake went out, so no close can: the server ended it.
            self.closed_by = "server"
            return None
        return self.close_goes_out(code, reason, fallback=fallback)

    def close_goes_out(self, code: int, reason: str, *, fallback: bool) -> int | None:
        """A close frame once the handshake is answered (the app's accept, or the guard's for a
        refusal): receive() reports the fallback the server took instead, if it took one; a
        close that reached nobody leaves the connection ended by the server."""
        sent = self.deliver_close(code, reason, fallback=fallback)
        if sent is None:
            self.closed_by = "server"
        elif sent != code:
            self.ended = _disconnect(sent, reason)
        return sent

    def _refused(self, code: object) -> bool:
        try:
            return self.peer.refuses_close is not None and self.peer.refuses_close(code)  # type: ignore[arg-type]
        except TypeError:  # the harness's refusal compares numbers: any other value fails
            return True

    def deliver_close(self, code: int, reason: str, *, fallback: bool = True) -> int | None:
        """The close that reaches the server, if any: a refused code is retried once with the
        fallback that keeps its meaning for reconnecting (1012 -> 4012, else 1000)."""
        if self.server_fails():
            return None
        if self._refused(code):
            substitute = fallback_code(code)
            if not fallback or substitute == code:
                return None
            return self.deliver_close(substitute, reason, fallback=False)
        self.expected.append(("equal", {"type": "websocket.close", "code": code, "reason": reason}))
        return code

    def receive(self) -> tuple[str, Any]:
        """("same", message) / ("equal", message) to return, or ("raise", error)."""
        if self.ended is not None:
            return ("equal", self.ended)
        if not self.inbox:
            return ("raise", self.peer.receive_error)
        message = self.inbox.pop(0)
        if message["type"] == "websocket.connect":
            self.connect_read = True
        if message["type"] != "websocket.disconnect":
            return ("same", message)
        normalised = {
            **message,
            "code": 1005 if message.get("code") is None else message["code"],
            "reason": "" if message.get("reason") is None else message["reason"],
        }
        if self.closed_by is None:
            self.closed_by = "server" if normalised["code"] == 1012 else "client"
        self.closed = True
        self.ended = normalised
        return ("equal", normalised)

    def echoes_the_close(self, exc: BaseException) -> bool:
        """Whether ``exc`` only echoes a close the other side made, and is dropped whatever
        ``reraise`` says: a disconnect exception (Starlette's ``WebSocketDisconnect``) after
        the client's or the server's close, and the guard's ``WebSocketClosedError`` after the
        server's side ended the connection (its send failed, it took no close, it closed with
        1012), which a raw server refuses with an error it does not log."""
        if self.closed_by == "server" and isinstance(exc, WebSocketClosedError):
            return True
        return self.closed_by in ("client", "server") and isinstance(exc, WebSocketDisconnect)

    def finish(self, escaped: BaseException | None) -> tuple[BaseException | None, int | None]:
        """What must follow the app's end; returns (what must escape, the crash close code)."""
        if escaped is None:
            if self.denial_open:
                self.finish_denial()
            elif self.closed:
                pass
            elif self.accepted:
                self.close_goes_out(1000, "", fallback=True)
            elif self.refuses_with_close:
                # Returning before accept refuses the connection for no reason the app gave.
                self.refuse(1008, "Policy Violation", fallback=True)
            else:
                # The server answers this close before accept with HTTP 403.
                self.deliver("equal", {"type": "websocket.close", "code": 1000, "reason": ""})
            return None, None
        if isinstance(escaped, asyncio.CancelledError):
            # The server cancelled the app: an open connection is told to come back.
            if self.accepted and not self.closed:
                self.closed, self.closed_by = True, "server"
                self.deliver_close(1012, "Service Restart")
            return escaped, None
        if not isinstance(escaped, Exception):
            return escaped, None  # KeyboardInterrupt, SystemExit: nothing more is sent
        if self.echoes_the_close(escaped):
            return None, None
        if self.denial_open:
            # The denial response is owed its end, also when the client left during it.
            self.finish_denial()
            return escaped, None
        if self.closed:
            return escaped, None
        reraise = self.script.options["reraise"]
        if self.accepted or self.refuses_with_close:
            # A crash answered with a close frame: `reraise` decides. A refused code is not
            # retried when the exception is re-raised: the server (daphne) then closes with
            # its own 1011.
            code, reason = self.crash_close(escaped)
            if self.accepted:
                sent = self.close_goes_out(code, reason, fallback=not reraise)
            else:
                sent = self.refuse(code, reason, fallback=not reraise)
            return (escaped if reraise else None), sent
        # Before accept, answered with HTTP 500 where the server offers the denial extension
        # (else the server answers 500 itself for the re-raised exception).
        if self.peer.extensions is not None and self.deliver("denial-start", 500):
            self.deliver("denial-body", b"Internal Server Error")
        return escaped, None

    def crash_close(self, exc: Exception) -> tuple[int, str]:
        if isinstance(exc, WebSocketException):
            return _wire_code(exc.code), normalise_reason(exc.reason)
        code, reason = 1011, _plain_name(1011)
        for cls in type(exc).__mro__:
            mapped = (self.script.options["exception_codes"] or {}).get(cls)
            if mapped is not None:
                if isinstance(mapped, tuple):
                    code, reason = int(mapped[0]), normalise_reason(mapped[1])
                else:
                    code, reason = int(mapped), _plain_name(int(mapped))
                break
        if self.script.options["expose_exception_text"]:
            reason = normalise_reason(_exception_text(exc))
        return code, reason


def _matches(
    raised: BaseException | None, expected: BaseException | type[BaseException] | None
) -> bool:
    if expected is None:
        return raised is None
    if isinstance(expected, type):
        return type(raised) is expected
    return raised is expected


async def play(script: Script, peer: Peer, *, time_limit: float = 60.0) -> Played:
    """Run ``script`` behind the guard against ``peer``, with the model checking every call.

    ``time_limit`` only bounds a hang: an example takes well under a millisecond, but on a
    starved machine a tight limit would cancel the guard halfway through a close, and the
    cancellation (rightly) propagates, which reads as a broken promise.
    """
    model = _Model(script, peer)
    records: list[CloseRecord] = []
    server = InMemoryServer(
        client=peer.client,
        extensions=peer.extensions,
        send_error=peer.send_error,
        fail_sends_after=peer.fail_sends_after,
        receive_error=peer.receive_error,
        refuses_close=peer.refuses_close,
    )

    def check(what: str, raised: BaseException | None, expected: Any) -> None:
        if not _matches(raised, expected):
            model.mismatches.append(f"{what}: raised {raised!r}, the model expected {expected!r}")
            raise ModelMismatch(model.mismatches[-1])

    left_the_app: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await steps_of(receive, send)
        except BaseException as exc:
            left_the_app.append(exc)
            raise

    async def steps_of(receive: Receive, send: Send) -> None:
        for step in script.steps:
            name = step[0]
            raised: BaseException | None = None
            if name == "raise":
                raise step[1]
            if name == "receive":
                want = model.receive()
                try:
                    got = await receive()
                except Exception as exc:
                    raised = exc
                check("receive", raised, want[1] if want[0] == "raise" else None)
                if raised is None and not (got is want[1] if want[0] == "same" else got == want[1]):
                    model.mismatches.append(f"receive returned {got!r}, expected {want[1]!r}")
                    raise ModelMismatch(model.mismatches[-1])
            else:
                if name == "accept":
                    message: Message = {"type": "websocket.accept"}
                    expected = model.accept(message)
                elif name == "send":
                    message = {"type": "websocket.send", "text": step[1]}
                    expected = model.send(message)
                elif name == "deny-start":
                    message = {
                        "type": "websocket.http.response.start",
                        "status": step[1],
                        "headers": [],
                    }
                    expected = model.deny_start(message)
                elif name == "deny-body":
                    message = {
                        "type": "websocket.http.response.body",
                        "body": b"no",
                        "more_body": step[1],
                    }
                    expected = model.deny_body(message)
                else:
                    message = {"type": "websocket.close"}
                    if step[1] is not MISSING:
                        message["code"] = step[1]
                    if step[2] is not MISSING:
                        message["reason"] = step[2]
                    expected = model.close(step[1], step[2])
                try:
                    await send(message)
                except Exception as exc:
                    raised = exc
                check(f"send({message!r})", raised, expected)
            if raised is not None and not script.catches:
                raise raised

    guard = CloseGuardMiddleware(app, on_close=records.append, **script.options)
    scope = server.scope
    scope["subprotocols"] = list(peer.subprotocols)
    escaped: BaseException | None = None
    with anyio.move_on_after(time_limit) as deadline:
        try:
            await guard(scope, server.receive, server.send)
        except BaseException as exc:  # CancelledError too: it is the app's, raised on purpose
            if deadline.cancel_called:
                raise
            escaped = exc
    if deadline.cancel_called:
        raise AssertionError(f"the example did not finish within {time_limit} s: a hang")
    if isinstance(escaped, ModelMismatch):
        return Played(server, escaped, records, model.expected, None, model.mismatches)
    # The end-of-app rules start from what left the app, which the guard may have swallowed.
    expected_escape, crash_close = model.finish(left_the_app[0] if left_the_app else None)
    events = [
        f"app ended: {type(left_the_app[0]).__name__ if left_the_app else 'returned'}",
        f"accepted: {model.accepted}, closed by: {model.closed_by}",
        f"refuse_with: {script.options['refuse_with']}, refused with a close: "
        f"{model.refused_with_close}",
        f"crash close: {crash_close}",
        f"messages on the wire: {min(len(model.expected), 5)}",
    ]
    return Played(
        server=server,
        escaped=escaped,
        records=records,
        expected=model.expected,
        expected_escape=expected_escape,
        mismatches=model.mismatches,
        crash_close=crash_close,
        accepted=model.accepted,
        refused_with_close=model.refused_with_close,
        events=events,
    )


# --- The promises --------------------------------------------------------------------------


def check_invariants(script: Script, peer: Peer, played: Played) -> None:
    """Assert every promise of the guard on one played connection; fail with a readable story."""
    story = f"\nscript: {script!r}\npeer: {peer!r}\nsent: {played.server.sent!r}"
    assert not played.mismatches, played.mismatches[0] + story
    sent = played.server.sent

    # Only codes allowed on the wire; at most one close; nothing after it. Before accept no code
    # reaches the wire (the server answers 403): the app's own close passes as it was sent.
    closes = [index for index, message in enumerate(sent) if message["type"] == "websocket.close"]
    assert len(closes) <= 1, "more than one close" + story
    accepted = bool(sent) and sent[0]["type"] == "websocket.accept"
    if closes and not accepted:
        assert closes[0] == len(sent) - 1, "a message went out after the close" + story
    elif closes:
        assert closes[0] == len(sent) - 1, "a message went out after the close" + story
        close = sent[closes[0]]
        assert allowed_on_wire(close["code"]), "a forbidden code reached the server" + story
        # Every reason is text that encodes as UTF-8 in at most 123 bytes.
        assert type(close["reason"]) is str, story
        assert len(close["reason"].encode("utf-8")) <= 123, story
        if not script.options["expose_exception_text"]:
            assert SECRET not in close["reason"], "an exception's text reached the client" + story
    for message in sent:
        assert SECRET.encode() not in bytes(message.get("body", b"")), story

    # Every message matches the model, in order: the app's own pass unchanged (the very
    # objects), the guard's are exactly the ones the contract calls for.
    assert len(sent) == len(played.expected), "wrong messages reached the server" + story
    for actual, (kind, expected) in zip(sent, played.expected, strict=True):
        if kind == "same":
            assert actual is expected, story
        elif kind == "equal":
            assert actual == expected, story
        elif kind == "denial-start":
            assert (actual["type"], actual["status"]) == ("websocket.http.response.start", 500)
        else:
            assert actual == {"type": "websocket.http.response.body", "body": expected}, story

    # The app's exception escapes as itself (or is swallowed as configured): never the guard's.
    assert played.escaped is played.expected_escape, (
        f"escaped {played.escaped!r}, expected {played.expected_escape!r}" + story
    )
    # A crash past accept with the client still there: exactly one close, the mapped code.
    if played.crash_close is not None:
        assert [sent[i]["code"] for i in closes] == [played.crash_close], story
    # One record per connection, whatever happened.
    assert len(played.records) == 1, story
    record = played.records[0]
    assert record.accepted is played.accepted, f"record: {record!r}" + story
    if played.refused_with_close:
        # refuse_with="close": the app never accepted, no HTTP status, the code on the wire.
        wire = sent[closes[0]]["code"] if closes else None
        assert (record.http_status, record.code) == (None, wire), f"record: {record!r}" + story
