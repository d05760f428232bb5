"""Security: an exception's text never reaches the client unless configured, and a crash's
traceback is logged once — by the server when the guard re-raises, by the guard when it does not.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
from starlette.exceptions import WebSocketException
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._types import Message, Receive, Scope, Send
from tests.harness import CONNECT, InMemoryServer, play
from tests.robustness.load_app import SECRET as LOAD_SECRET
from tests.support.servers import Server, run_server

SECRET: Final = "db-password=hunter2"
ACCEPT: Message = {"type": "websocket.accept"}
TRACEBACK: Final = "Traceback (most recent call last)"


class Boom(Exception):
    pass


def _secret_websocket_exception() -> WebSocketException:
    try:
        raise Boom(SECRET)
    except Boom as cause:
        error = WebSocketException(4401, "token expired")
        error.__cause__ = cause
        return error


@dataclass
class Path:
    """One way of closing on an exception, and what the client gets on that path."""

    steps: list[Any]
    #: (code, reason) of the close without expose_exception_text; None: no close goes out.
    close: tuple[int, str] | None
    #: How the reason starts with expose_exception_text=True; None: the path never exposes.
    exposes: str | None
    options: dict[str, Any] = field(default_factory=dict)
    client: list[Message] = field(default_factory=lambda: [CONNECT])
    extensions: dict[str, Any] | None = field(
        default_factory=lambda: {"websocket.http.response": {}}
    )
    #: Whether the exception is raised past accept with the connection open (the guard closes).
    after_accept: bool = True


async def _receive(receive: Receive, send: Send) -> None:
    await receive()


async def _forbidden_close(receive: Receive, send: Send) -> None:
    await send({"type": "websocket.close", "code": 1006, "reason": SECRET})


PATHS: Final[dict[str, Path]] = {
    "after-accept-default": Path(
        [ACCEPT, Boom(SECRET)], (1011, "Internal Error"), f"Boom: {SECRET}"
    ),
    "mapped-code": Path(
        [ACCEPT, Boom(SECRET)], (4000, ""), f"Boom: {SECRET}", {"exception_codes": {Boom: 4000}}
    ),
    "mapped-code-and-reason": Path(
        [ACCEPT, PermissionError(SECRET)],
        (1008, "Forbidden"),
        f"PermissionError: {SECRET}",
        {"exception_codes": {PermissionError: (1008, "Forbidden")}},
    ),
    "mapped-through-the-mro-long-text": Path(
        [ACCEPT, ConnectionResetError(SECRET * 20)],
        (1014, "Bad Gateway"),
        f"ConnectionResetError: {SECRET}",
        {"exception_codes": {OSError: 1014}},
    ),
    # The one path that carries a reason of its own: the app chose it, and it is kept.
    "starlette-websocket-exception": Path(
        [ACCEPT, _secret_websocket_exception()], (4401, "token expired"), None
    ),
    "websocket-disconnect-while-open": Path(
        [ACCEPT, WebSocketDisconnect(1000, SECRET)],
        (1011, "Internal Error"),
        f"WebSocketDisconnect: (1000, '{SECRET}')",
    ),
    "strict-refusal-not-caught": Path(
        [ACCEPT, _forbidden_close],
        (1011, "Internal Error"),
        "ForbiddenCloseCodeError: cannot close the WebSocket with code 1006",
        {"strict": True},
    ),
    "servers-receive-raises": Path(
        [ACCEPT, _receive],
        (1011, "Internal Error"),
        f"OSError: {SECRET}",
        {"_receive_error": OSError(SECRET)},
    ),
    "reraise-false": Path(
        [ACCEPT, Boom(SECRET)], (1011, "Internal Error"), f"Boom: {SECRET}", {"reraise": False}
    ),
    "before-accept-http-500": Path([Boom(SECRET)], None, None, after_accept=False),
    "before-accept-no-denial-extension": Path(
        [Boom(SECRET)], None, None, extensions=None, after_accept=False
    ),
}


async def _play(path: Path, expose: bool) -> tuple[InMemoryServer, list[CloseRecord]]:
    options = dict(path.options)
    receive_error = options.pop("_receive_error", None)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await play(path.steps, receive, send)

    server = InMemoryServer(
        client=path.client, extensions=path.extensions, receive_error=receive_error
    )
    records: list[CloseRecord] = []
    guard = CloseGuardMiddleware(
        app, on_close=records.append, expose_exception_text=expose, **options
    )
    with contextlib.suppress(Exception):
        await guard(server.scope, server.receive, server.send)
    return server, records


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(PATHS))
async def test_the_exceptions_text_never_reaches_the_client_by_default(name: str) -> None:
    path = PATHS[name]
    server, records = await _play(path, expose=False)
    assert SECRET not in repr(server.sent)
    assert [(m["code"], m["reason"]) for m in server.closes()] == (
        [path.close] if path.close else []
    )
    if not path.after_accept and path.extensions:
        assert server.sent[1]["body"] == b"Internal Server Error"
    assert SECRET not in repr(records)


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(PATHS))
async def test_expose_exception_text_puts_it_in_the_reason_within_123_bytes(name: str) -> None:
    path = PATHS[name]
    server, _ = await _play(path, expose=True)
    closes = server.closes()
    if path.exposes is None:
        assert SECRET not in repr(server.sent)
        assert [(m["code"], m["reason"]) for m in closes] == ([path.close] if path.close else [])
        return
    ((code, reason),) = [(m["code"], m["reason"]) for m in closes]
    assert path.close is not None
    assert code == path.close[0]
    assert reason.startswith(path.exposes), reason
    assert len(reason.encode("utf-8")) <= 123


@pytest.mark.anyio
@pytest.mark.parametrize("name", [name for name, path in PATHS.items() if path.after_accept])
@pytest.mark.parametrize("reraise", [True, False])
async def test_the_guard_logs_a_crash_only_when_it_does_not_reraise(
    name: str, reraise: bool, caplog: pytest.LogCaptureFixture
) -> None:
    path = PATHS[name]
    path = Path(**{**vars(path), "options": {**path.options, "reraise": reraise}})
    with caplog.at_level(logging.DEBUG, logger="asgi_closeguard"):
        await _play(path, expose=False)
    with_traceback = [record for record in caplog.records if record.exc_info]
    # Re-raised: the server logs it, so the guard must not (else two tracebacks per crash).
    assert len(with_traceback) == (0 if reraise else 1)
    assert SECRET not in "".join(record.getMessage() for record in caplog.records)


@pytest.mark.anyio
@pytest.mark.parametrize("reraise", [True, False])
async def test_before_accept_the_guard_never_logs_the_traceback(
    reraise: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Always re-raised before accept: the server answers for it and logs it.
    path = Path(**{**vars(PATHS["before-accept-http-500"]), "options": {"reraise": reraise}})
    with caplog.at_level(logging.DEBUG, logger="asgi_closeguard"):
        await _play(path, expose=False)
    assert not [record for record in caplog.records if record.exc_info]


# --- On a real server: one traceback per crash ---------------------------------------------


@pytest.fixture(scope="module")
def uvicorn() -> Iterator[Server]:
    with run_server("uvicorn-wsproto", "tests.robustness.load_app:app", ready_path="/") as server:
        yield server


@pytest.mark.server
@pytest.mark.parametrize(
    ("path", "logged_by"),
    [("/ws", "Exception in ASGI application"), ("/quiet", "WebSocket handler for /quiet raised")],
    ids=["reraise-server-logs", "reraise-false-guard-logs"],
)
def test_one_crash_one_traceback_on_uvicorn(uvicorn: Server, path: str, logged_by: str) -> None:
    mark = uvicorn.mark()
    with connect(uvicorn.ws_url(f"{path}?mode=crash&at=0"), open_timeout=5) as ws:
        ws.send("crash now")
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011
    assert LOAD_SECRET not in closed.value.rcvd.reason
    assert uvicorn.wait_for_output("LoadCrash", since=mark, timeout=5)
    output = uvicorn.output(mark)
    assert output.count(TRACEBACK) == 1, output
    assert output.count(logged_by) == 1, output
