"""An in-memory ASGI server for WebSocket scopes: the unit tests' stand-in for uvicorn & co.

It plays a scripted client (the messages ``receive()`` hands out, in order) and records every
message the app's side ``send()``s to it. Options imitate what real servers do differently:
whether they offer the denial-response extension, close codes they refuse (daphne), a send that
fails because the peer is gone. It runs under asyncio and trio alike, through anyio.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from asgi_closeguard import CloseRecord, is_sendable
from asgi_closeguard._types import ASGIApp, Message, Receive, Scope, Send

CONNECT: Message = {"type": "websocket.connect"}
DENIAL_EXTENSION = {"websocket.http.response": {}}


def text(data: str) -> Message:
    """A text message from the client."""
    return {"type": "websocket.receive", "text": data}


def disconnect(code: int | None = 1000, reason: str | None = "", **extra: Any) -> Message:
    """The client's close as a server reports it; ``code=None`` leaves the key out."""
    message: Message = {"type": "websocket.disconnect", **extra}
    if code is not None:
        message["code"] = code
    if reason is not None:
        message["reason"] = reason
    return message


class ServerRefused(Exception):
    """What a server raises for a close it will not send (daphne: "invalid close code")."""


@dataclass
class InMemoryServer:
    """A WebSocket server without sockets: a scripted client in, a list of messages out."""

    client: Iterable[Message] = (CONNECT,)
    path: str = "/ws"
    extensions: Mapping[str, Any] | None = field(default_factory=lambda: dict(DENIAL_EXTENSION))
    #: Close codes the server raises `ServerRefused` for instead of sending, like daphne.
    refuses_close: Callable[[int], bool] | None = None
    #: Raised by send() for every message after `fail_sends_after` messages went out.
    send_error: BaseException | None = None
    fail_sends_after: int = 0
    #: Raised by receive() once the scripted client messages run out (else it blocks).
    receive_error: BaseException | None = None
    #: Once a close went out and the script ran out, receive() returns the client's answering
    #: close, as a real client's would arrive; False: the client never answers.
    answers_close: bool = True

    sent: list[Message] = field(default_factory=list, init=False)
    received: list[Message] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._inbox: deque[Message] = deque(self.client)
        self._close_sent = anyio.Event()

    @property
    def scope(self) -> Scope:
        scope: Scope = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "scheme": "ws",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "subprotocols": [],
            "state": {},
        }
        if self.extensions is not None:
            scope["extensions"] = dict(self.extensions)
        return scope

    async def receive(self) -> Message:
        while True:
            if self._inbox:
                message = self._inbox.popleft()
                self.received.append(message)
                return message
            if self.receive_error is not None:
                raise self.receive_error
            code = self._disconnect_code() if self.answers_close else None
            if code is not None:
                reply: Message = {"type": "websocket.disconnect", "code": code, "reason": ""}
                self.received.append(reply)
                return reply
            # A client that says nothing more, until a close goes out (bounded by the test): a
            # read already waiting then gets the client's answer, as on a real server.
            self._close_sent = anyio.Event()
            await self._close_sent.wait()

    async def send(self, message: Message) -> None:
        await anyio.lowlevel.checkpoint()
        if not isinstance(message, dict) or "type" not in message:
            raise TypeError(f"not an ASGI message: {message!r}")
        if self.send_error is not None and len(self.sent) >= self.fail_sends_after:
            raise self.send_error
        if (
            message["type"] == "websocket.close"
            and self.refuses_close is not None
            and self.refuses_close(message.get("code", 1000))
        ):
            raise ServerRefused(f"invalid close code {message.get('code')}")
        self.sent.append(message)
        if message["type"] == "websocket.close" or self.refused():
            self._close_sent.set()

    def _disconnect_code(self) -> int | None:
        """The code of the disconnect the server reports next, or None while it has none."""
        if self.sent and self.sent[0]["type"] == "websocket.accept" and self.closes():
            # A real client answers a close frame with its own (RFC 6455 §5.5.1).
            return int(self.closes()[0]["code"])
        if self.refused():
            # A refused handshake ends the connection: the server's next receive() says so
            # with 1006, as uvicorn's does (Quart 0.23 waits for it before it returns).
            return 1006
        return None

    def refused(self) -> bool:
        """The handshake was refused: a close or a whole denial response went out first."""
        if not self.sent or self.sent[0]["type"] == "websocket.accept":
            return False
        last = self.sent[-1]
        return last["type"] == "websocket.close" or (
            last["type"] == "websocket.http.response.body" and not last.get("more_body", False)
        )

    # What reached the "wire", for assertions.
    def types(self) -> list[str]:
        return [message["type"] for message in self.sent]

    def closes(self) -> list[Message]:
        return [message for message in self.sent if message["type"] == "websocket.close"]

    def only_close(self) -> tuple[int, str]:
        """The one close that went out, as (code, reason); fails unless there is exactly one."""
        closes = self.closes()
        if len(closes) != 1:
            raise AssertionError(f"expected exactly one close, got {self.sent!r}")
        return closes[0]["code"], closes[0]["reason"]

    def denial_status(self) -> int | None:
        for message in self.sent:
            if message["type"] == "websocket.http.response.start":
                return int(message["status"])
        return None


#: One step of a scripted app: a message to send, a coroutine function to run with
#: (receive, send), or an exception to raise.
Step = Message | Callable[[Receive, Send], Awaitable[None]] | BaseException


async def play(steps: Iterable[Step], receive: Receive, send: Send) -> None:
    """Send, run or raise each step in turn: the body of a scripted app."""
    for step in steps:
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            await step(receive, send)
        else:
            await send(step)


@dataclass
class Outcome:
    """What one connection did: the server's view, what escaped, the close records."""

    server: InMemoryServer
    exception: Exception | None
    records: list[CloseRecord]

    @property
    def record(self) -> CloseRecord:
        if len(self.records) != 1:
            raise AssertionError(f"expected exactly one close record, got {self.records!r}")
        return self.records[0]


async def run(
    app: ASGIApp,
    *client: Message,
    records: list[CloseRecord] | None = None,
    time_limit: float = 5.0,
    **server_options: Any,
) -> Outcome:
    """Run ``app`` for one connection whose client sends ``client`` (default: just connect).

    An ``Exception`` that escapes the app is caught and returned in the outcome; any other
    ``BaseException`` propagates. The whole run is bounded by ``time_limit`` seconds. Every
    close that reaches the server after an accept must carry a code allowed on the wire: the
    harness runs apps behind the guard, and fails the test otherwise.
    """
    if records is None:
        # `CloseGuardMiddleware(app, on_close=records.append)`: collect into that same list.
        callbacks = getattr(app, "on_close", None) or ()
        owner = getattr(callbacks[0], "__self__", None) if callbacks else None
        records = owner if isinstance(owner, list) else None
    server = InMemoryServer(client=client or (CONNECT,), **server_options)
    escaped: Exception | None = None
    with anyio.fail_after(time_limit):
        try:
            await app(server.scope, server.receive, server.send)
        except Exception as exc:
            escaped = exc
    accepted = bool(server.sent) and server.sent[0]["type"] == "websocket.accept"
    for message in server.closes():
        if accepted and not is_sendable(message["code"]):
            raise AssertionError(f"forbidden close reached the server: {message!r}")
    return Outcome(server=server, exception=escaped, records=list(records or ()))
