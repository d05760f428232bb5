"""uvicorn's log, raw vs guarded, when a streaming handler's client vanishes.

On uvicorn with each ``--ws`` implementation, a handler streams (sends in a loop, never reads)
and its client leaves mid-stream: with a TCP RST (``tests/robustness/vanish.py``) or by just
closing its socket (a FIN, no close frame). A plain ASGI handler and a FastAPI endpoint, each
raw and behind the guard (``tests/edges/vanish_app.py``). The contract: the guard adds no error
line to the server's log — no "Exception in ASGI application", no traceback, no warning — that
the raw server does not print. uvicorn recognises its own ``ClientDisconnected`` from a failed
send and logs nothing; any other exception leaving the app is logged with its traceback.

Also a handler that closes with 1006 before accepting: no close code reaches the wire before
accept, so uvicorn answers HTTP 403, raw and guarded.

One uvicorn per ``--ws`` serves both sides for the whole module; the three run their scenarios
concurrently, each one scenario at a time so every log line belongs to one scenario.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tests.robustness.vanish import open_raw_websocket, reset
from tests.support.servers import Server, ServerStartError, run_servers

# Each step is bounded (TIME_LIMIT per socket operation), the module's fixtures as a whole by
# this: above the suite's 120 s per test, which a slow start on a loaded machine could reach.
pytestmark = [pytest.mark.server, pytest.mark.timeout(300)]

UVICORN_KINDS = ("uvicorn-websockets", "uvicorn-websockets-sansio", "uvicorn-wsproto")
SIDES = ("raw", "guarded")
HANDLERS = ("stream", "fastapi/stream")
REFUSED_HANDLER = "close-1006-before-accept"
#: Generous for a loaded machine: each wait is a poll or a blocking call bounded by this.
TIME_LIMIT = 15.0


def leave_with_rst(sock: socket.socket) -> None:
    """The peer disappears: a TCP RST, no close frame."""
    reset(sock)


def leave_with_fin(sock: socket.socket) -> None:
    """The peer just closes its socket: an orderly TCP shutdown, no close frame."""
    sock.close()


CLIENTS = {"rst": leave_with_rst, "fin": leave_with_fin}


@dataclass
class Observed:
    """One scenario on one side: what the app reported, and what the server logged meanwhile."""

    report: dict[str, Any]
    log: str
    status: int | None = None  # the handshake's HTTP status, for the refused handshake


def http_get(server: Server, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One HTTP GET, bounded by :data:`TIME_LIMIT`: the status and the body."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIME_LIMIT)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def handshake_status(server: Server, path: str) -> int:
    """The HTTP status the server answers a WebSocket opening handshake with."""
    status, _ = http_get(
        server,
        path,
        {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    return status


def report_of(server: Server, token: str) -> dict[str, Any]:
    """What the app recorded for ``token``, once the run is over (the app waits for it)."""
    status, body = http_get(server, f"/report?t={token}")
    report: dict[str, Any] = json.loads(body) or {}
    report["finished"] = status == 200
    return report


def vanish_mid_stream(server: Server, path: str, leave: Any) -> None:
    """Open a WebSocket, wait for the stream's first bytes, then leave the way ``leave`` does."""
    sock = open_raw_websocket(server.host, server.port, path, timeout=TIME_LIMIT)
    try:
        if not sock.recv(4096):
            raise ConnectionError(f"{server.kind} closed {path} before streaming")
    finally:
        leave(sock)


def log_between(server: Server, start: int, end: int) -> str:
    """The server's output between two marks."""
    return server.log_path.read_bytes()[start:end].decode("utf-8", "replace")


def observe_server(server: Server) -> dict[tuple[str, str, str], Observed]:
    """Every scenario on ``server``, one at a time, raw before guarded.

    ``{(handler, client, side): Observed}``; the refused handshake's client is ``"handshake"``.
    Each scenario's log window runs from its start to the next one's, so a line the server
    writes late is charged to the scenario after it — never lost.
    """
    steps: list[tuple[tuple[str, str, str], Any]] = [
        ((handler, client, side), leave)
        for handler in HANDLERS
        for client, leave in CLIENTS.items()
        for side in SIDES
    ]
    steps += [((REFUSED_HANDLER, "handshake", side), None) for side in SIDES]
    marks: list[int] = []
    reports: list[tuple[dict[str, Any], int | None]] = []
    for (handler, _, side), leave in steps:
        marks.append(server.mark())
        token = uuid.uuid4().hex
        path = f"/{side}/{handler}?t={token}"
        status = None
        if leave is None:
            status = handshake_status(server, path)
        else:
            vanish_mid_stream(server, path, leave)
        reports.append((report_of(server, token), status))
    http_get(server, "/health")  # one more round trip before the last window closes
    marks.append(server.mark())
    return {
        key: Observed(report, log_between(server, marks[i], marks[i + 1]), status)
        for i, ((key, _), (report, status)) in enumerate(zip(steps, reports, strict=True))
    }


Started = dict[str, Server | ServerStartError]


@pytest.fixture(scope="module")
def started() -> Iterator[Started]:
    """One uvicorn per ``--ws`` implementation, serving both sides, for the whole module."""
    with run_servers(
        UVICORN_KINDS, "tests.edges.vanish_app:app", ready_path="/health", startup_timeout=60.0
    ) as servers:
        yield servers


@pytest.fixture(scope="module")
def observed(started: Started) -> dict[str, dict[tuple[str, str, str], Observed] | Exception]:
    """Every scenario on every server that started, the servers concurrently."""
    servers = {kind: s for kind, s in started.items() if isinstance(s, Server)}
    results: dict[str, dict[tuple[str, str, str], Observed] | Exception] = {}
    with ThreadPoolExecutor(len(UVICORN_KINDS)) as pool:
        futures = {kind: pool.submit(observe_server, server) for kind, server in servers.items()}
        for kind, future in futures.items():
            try:
                results[kind] = future.result(timeout=10 * TIME_LIMIT)
            except Exception as exc:  # reported by that server's tests only
                results[kind] = exc
    return results


def observations_for(
    started: Started, observed: dict[str, Any], kind: str
) -> dict[tuple[str, str, str], Observed]:
    """The scenarios observed on ``kind``, or fail with why there are none."""
    if isinstance(started[kind], ServerStartError):
        pytest.fail(f"{kind} did not start:\n{started[kind]}", pytrace=False)
    result: dict[tuple[str, str, str], Observed] | Exception = observed[kind]
    if isinstance(result, Exception):
        pytest.fail(f"the scenarios on {kind} failed: {result!r}", pytrace=False)
    return result


_LEVEL = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL):")
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
_TRACEBACK_HEADERS = (
    "Traceback (most recent call last):",
    "During handling of the above exception",
    "The above exception was the direct cause",
    "Exception Group Traceback",
)


def error_signature(log: str) -> Counter[str]:
    """The error lines of a log, counted; a line that differs only in numbers counts as one.

    Kept: every ``WARNING``/``ERROR``/``CRITICAL`` line, every traceback header and chaining
    line, each traceback's exception type (its message left out), and any other unindented
    line (asyncio's "Task exception was never retrieved", a bare warning from a logger with no
    handler). Left out: ``INFO``/``DEBUG`` lines, and the frames of tracebacks (the guard's own
    frames appear in a guarded traceback of the very same exception).
    """
    signature: Counter[str] = Counter()
    for line in log.splitlines():
        stripped = line.strip(" |+-")
        level = _LEVEL.match(line)
        if not stripped or (level and level.group(1) in ("DEBUG", "INFO")):
            continue
        if stripped.startswith(_TRACEBACK_HEADERS):
            signature[stripped.split(":")[0]] += 1
        elif level:
            signature[re.sub(r"\d+", "N", " ".join(line.split()))] += 1
        elif line.startswith((" ", "\t")):
            continue  # a traceback's frame or source line
        elif exception := _EXCEPTION.match(line):
            signature[f"exception {exception.group(1)}"] += 1
        else:
            signature[re.sub(r"\d+", "N", line)] += 1
    return signature


SIGNATURE_TABLE = [
    ("INFO:     connection closed\n", {}),
    (
        "ERROR:    Exception in ASGI application\nTraceback (most recent call last):\n"
        '  File "x.py", line 3, in f\n    raise ValueError(1)\nValueError: secret 1\n',
        {
            "ERROR: Exception in ASGI application": 1,
            "Traceback (most recent call last)": 1,
            "exception ValueError": 1,
        },
    ),
    (
        "Traceback (most recent call last):\n  ...\nuvicorn.protocols.utils.ClientDisconnected\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n  ...\n"
        "asgi_closeguard._errors.WebSocketClosedError: gone\n",
        {
            "Traceback (most recent call last)": 2,
            "The above exception was the direct cause of the following exception": 1,
            "exception uvicorn.protocols.utils.ClientDisconnected": 1,
            "exception asgi_closeguard._errors.WebSocketClosedError": 1,
        },
    ),
    (
        "the client did not answer the close within 1.0 s\n",
        {"the client did not answer the close within N.N s": 1},
    ),
]


@pytest.mark.parametrize(("log", "expected"), SIGNATURE_TABLE)
def test_error_signature(log: str, expected: dict[str, int]) -> None:
    assert error_signature(log) == Counter(expected)


def added_error_lines(raw_log: str, guarded_log: str) -> Counter[str]:
    """Error lines the guarded run printed more often than the raw run."""
    return error_signature(guarded_log) - error_signature(raw_log)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("handler", HANDLERS)
@pytest.mark.parametrize("kind", UVICORN_KINDS)
def test_guard_adds_no_error_line_when_the_client_vanishes(
    started: Started, observed: dict[str, Any], kind: str, handler: str, client: str
) -> None:
    runs = observations_for(started, observed, kind)
    raw, guarded = runs[handler, client, "raw"], runs[handler, client, "guarded"]
    for side, run in (("raw", raw), ("guarded", guarded)):
        # The scenario did what it says: the handler streamed, and a send failed when the
        # client left (not the time limit).
        assert run.report["finished"], (side, run.report)
        assert run.report["sends"] >= 1, (side, run.report)
        assert run.report["send_raised"], (side, run.report)
    added = added_error_lines(raw.log, guarded.log)
    assert not added, (
        f"the guard adds to {kind}'s log: {dict(added)}\n"
        f"raw ({raw.report}):\n{raw.log}\nguarded ({guarded.report}):\n{guarded.log}"
    )
    # The send that fails raises the server's own exception unchanged (uvicorn's
    # ClientDisconnected, or what Starlette makes of it): uvicorn knows its own and stays quiet.
    assert guarded.report["send_raised"] == raw.report["send_raised"], (raw.report, guarded.report)
    # Behind the guard the log has no error line at all: the plain handler's exception is
    # uvicorn's own, and FastAPI's WebSocketDisconnect only reports that the client left, so the
    # guard drops it where the raw server logs its traceback.
    assert not error_signature(guarded.log), f"guarded ({guarded.report}):\n{guarded.log}"


@pytest.mark.parametrize("kind", UVICORN_KINDS)
def test_close_1006_before_accept_is_403_both_ways(
    started: Started, observed: dict[str, Any], kind: str
) -> None:
    runs = observations_for(started, observed, kind)
    raw, guarded = (runs[REFUSED_HANDLER, "handshake", side] for side in SIDES)
    assert (raw.status, guarded.status) == (403, 403)
    assert raw.report["escaped"] is None
    assert guarded.report["escaped"] is None
    added = added_error_lines(raw.log, guarded.log)
    assert not added, f"the guard adds to {kind}'s log: {dict(added)}\n{guarded.log}"
