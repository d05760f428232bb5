"""Faults: the client vanishes, the server's send or receive raises.

Whatever fails, the guard never raises an error of its own over the app's, never leaves a task
or a "Task exception was never retrieved" behind, and the server stays up. The in-memory rows
run under asyncio's debug mode, which reports un-retrieved task exceptions, never-awaited
coroutines and callbacks that raised; the real-server rows run uvicorn with
``PYTHONASYNCIODEBUG=1`` and read its log.
"""

from __future__ import annotations

import asyncio
import gc
import http.client
import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from starlette.websockets import WebSocket
from websockets.sync.client import connect

from asgi_closeguard import CloseGuardMiddleware, WebSocketClosedError
from asgi_closeguard._types import Message, Receive, Scope, Send
from tests.harness import CONNECT, InMemoryServer, play
from tests.robustness.vanish import half_a_text_frame, open_raw_websocket, reset
from tests.support.servers import Server, run_server

ACCEPT: Message = {"type": "websocket.accept"}
#: What asyncio and servers print when something was left behind or failed unseen.
LEFT_BEHIND = (
    "Task exception was never retrieved",
    "Task was destroyed but it is pending",
    "was never awaited",
    "Exception in callback",
    "Traceback (most recent call last)",
)


class Boom(Exception):
    pass


class ServerBug(Exception):
    """A server's send failing with something that is not an ``OSError``."""


def _reset() -> OSError:
    return ConnectionResetError("connection reset by peer")


@dataclass
class Fault:
    """One row: what the app does, how the server fails, what must escape and reach the wire."""

    steps: list[Any]
    server: dict[str, Any]
    #: "app": the very exception that left the app escapes; None: nothing escapes.
    escapes: str | None
    closes: list[tuple[int, str]]
    guard_options: dict[str, Any] = field(default_factory=dict)


def _send_text(receive: Receive, send: Send) -> Any:
    return send({"type": "websocket.send", "text": "hi"})


async def _receive(receive: Receive, send: Send) -> None:
    await receive()


async def _starlette_send(receive: Receive, send: Send) -> None:
    # What a FastAPI endpoint does: Starlette turns the guard's OSError into WebSocketDisconnect.
    websocket = WebSocket({"type": "websocket", "path": "/ws"}, receive, send)
    websocket.client_state = websocket.client_state.CONNECTED
    websocket.application_state = websocket.application_state.CONNECTED
    await websocket.send_text("into the void")


FAULTS: dict[str, Fault] = {
    "app-send-raises-oserror": Fault(
        [ACCEPT, _send_text], {"send_error": _reset(), "fail_sends_after": 1}, "app", []
    ),
    "app-send-raises-server-bug": Fault(
        [ACCEPT, _send_text], {"send_error": ServerBug("bug"), "fail_sends_after": 1}, "app", []
    ),
    "accept-raises": Fault([ACCEPT], {"send_error": _reset()}, "app", []),
    "app-close-raises": Fault(
        [ACCEPT, {"type": "websocket.close", "code": 4000}],
        {"send_error": _reset(), "fail_sends_after": 1},
        None,
        [],
    ),
    "guard-close-after-crash-raises-oserror": Fault(
        [ACCEPT, Boom("app")], {"send_error": _reset(), "fail_sends_after": 1}, "app", []
    ),
    "guard-close-after-crash-raises-server-bug": Fault(
        [ACCEPT, Boom("app")], {"send_error": ServerBug(), "fail_sends_after": 1}, "app", []
    ),
    "guard-close-after-return-raises": Fault(
        [ACCEPT], {"send_error": _reset(), "fail_sends_after": 1}, None, []
    ),
    "guard-500-raises": Fault([Boom("app")], {"send_error": _reset()}, "app", []),
    "receive-raises-oserror": Fault(
        [ACCEPT, _receive], {"receive_error": _reset()}, "app", [(1011, "Internal Error")]
    ),
    "receive-raises-server-bug": Fault(
        [ACCEPT, _receive], {"receive_error": ServerBug()}, "app", [(1011, "Internal Error")]
    ),
    "receive-and-guard-close-raise": Fault(
        [ACCEPT, _receive],
        {"receive_error": _reset(), "send_error": ServerBug(), "fail_sends_after": 1},
        "app",
        [],
    ),
    "starlette-send-after-vanish": Fault(
        [ACCEPT, _starlette_send], {"send_error": _reset(), "fail_sends_after": 1}, None, []
    ),
    "receive-raises-reraise-false": Fault(
        [ACCEPT, _receive],
        {"receive_error": _reset()},
        None,
        [(1011, "Internal Error")],
        {"reraise": False},
    ),
}


async def play_fault(fault: Fault) -> tuple[InMemoryServer, BaseException | None, list[Any]]:
    """Run one row; returns the server, what escaped the guard, what left the app."""
    left_the_app: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await receive()
            await play(fault.steps, receive, send)
        except BaseException as exc:
            left_the_app.append(exc)
            raise

    server = InMemoryServer(client=[CONNECT], **fault.server)
    records: list[Any] = []
    guard = CloseGuardMiddleware(app, on_close=records.append, **fault.guard_options)
    escaped: BaseException | None = None
    with anyio.fail_after(5):
        try:
            await guard(server.scope, server.receive, server.send)
        except Exception as exc:
            escaped = exc
    assert len(records) == 1
    return server, escaped, left_the_app


def check_fault(fault: Fault, server: InMemoryServer, escaped: Any, left: list[Any]) -> None:
    if fault.escapes == "app":
        assert left, "the row expects the app to raise"
        assert escaped is left[0], f"{escaped!r} escaped in place of the app's {left[0]!r}"
    else:
        assert escaped is None
    assert [(m["code"], m["reason"]) for m in server.closes()] == fault.closes
    if left and isinstance(left[0], WebSocketClosedError):
        # The server's own error stays reachable as the cause.
        assert left[0].__cause__ is fault.server["send_error"]


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(FAULTS))
async def test_the_apps_exception_is_the_one_that_escapes(name: str) -> None:
    fault = FAULTS[name]
    check_fault(fault, *await play_fault(fault))


@dataclass
class DebugReport:
    """What asyncio's debug mode reported while the rows ran."""

    loop_errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tasks_left: int = 0


def run_in_debug_mode(main: Callable[[], Any]) -> DebugReport:
    """Run ``main()`` in a fresh asyncio loop in debug mode, collecting what was left behind."""
    report = DebugReport()

    async def wrapper() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: report.loop_errors.append(context))
        await main()
        gc.collect()  # an un-retrieved task exception is reported when the task is collected
        await asyncio.sleep(0)
        report.tasks_left = len(asyncio.all_tasks()) - 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loop = asyncio.new_event_loop()
        loop.set_debug(True)
        try:
            loop.run_until_complete(wrapper())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
        gc.collect()
    report.warnings = [str(warning.message) for warning in caught]
    return report


def test_faults_leave_nothing_behind_in_asyncio_debug_mode() -> None:
    async def every_row() -> None:
        for fault in FAULTS.values():
            check_fault(fault, *await play_fault(fault))

    report = run_in_debug_mode(every_row)
    assert report.loop_errors == []
    assert report.warnings == []
    assert report.tasks_left == 0


def test_the_debug_mode_check_sees_a_task_exception_left_behind() -> None:
    # The check above would pass vacuously if debug mode reported nothing: show it reports.
    async def leave_one() -> None:
        async def fail() -> None:
            raise Boom("never retrieved")

        task = asyncio.ensure_future(fail())
        await asyncio.sleep(0.01)
        del task

    report = run_in_debug_mode(leave_one)
    assert [context["message"] for context in report.loop_errors] == [
        "Task exception was never retrieved"
    ]


# --- A real server: the client vanishes mid-message (TCP reset) -----------------------------

UVICORNS = ["uvicorn-websockets", "uvicorn-websockets-sansio", "uvicorn-wsproto"]


@pytest.fixture(scope="module", params=UVICORNS)
def uvicorn_in_debug_mode(request: pytest.FixtureRequest) -> Iterator[Server]:
    with run_server(
        request.param,
        "tests.robustness.load_app:app",
        ready_path="/",
        env={"PYTHONASYNCIODEBUG": "1"},
        extra_args=["--loop", "asyncio"],
    ) as server:
        yield server


def _report(server: Server, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
        try:
            conn.request("GET", f"/report?path={path}")
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status == 200:
            report: dict[str, Any] = json.loads(body)
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"no report for {path}:\n{server.output()}")
        time.sleep(0.05)


@pytest.mark.server
@pytest.mark.parametrize("mode", ["sink", "flood"])
def test_client_vanishes_mid_message(uvicorn_in_debug_mode: Server, mode: str) -> None:
    server = uvicorn_in_debug_mode
    mark = server.mark()
    path = f"/vanish/{uuid.uuid4().hex}"
    sock = open_raw_websocket(server.host, server.port, f"{path}?mode={mode}")
    if mode == "sink":
        sock.sendall(half_a_text_frame())  # the client dies halfway through its message
    else:
        sock.recv(1500)  # the client dies halfway through reading the server's message
    time.sleep(0.05)
    reset(sock)

    report = _report(server, path)
    if mode == "sink":
        # After the disconnect, the app's next send gets the guard's one OSError, whatever
        # uvicorn's implementation.
        assert (report["send_error"], report["send_error_is_oserror"]) == (
            "WebSocketClosedError",
            True,
        )
    else:
        # The send that fails raises uvicorn's own ClientDisconnected, unchanged: uvicorn
        # knows it and logs nothing for it.
        assert (report["send_error"], report["send_error_is_oserror"]) == (
            "ClientDisconnected",
            True,
        )
    if mode == "sink":
        # uvicorn reports a reset as 1006 (websockets) or 1005 (sansio, wsproto).
        assert report["disconnect"]["code"] in (1005, 1006)
        assert report["record"] == {
            "closed_by": "client",
            "code": report["disconnect"]["code"],
            "exception": None,
        }
    else:
        assert report["record"] == {"closed_by": "server", "code": None, "exception": None}

    # The server is still up, and logged nothing left behind.
    with connect(server.ws_url("/ws?mode=echo"), open_timeout=5, close_timeout=5) as ws:
        ws.send("still there?")
        assert ws.recv(timeout=5) == "still there?"
    time.sleep(0.1)
    output = server.output(mark)
    assert not [line for line in LEFT_BEHIND if line in output], output
    assert server.alive()
