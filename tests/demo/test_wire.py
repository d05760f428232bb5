"""The demo on a real uvicorn, seen on the wire by the python ``websockets`` client.

One uvicorn per ``--ws`` implementation, started once for the module on 127.0.0.1. The raw
mount shows what uvicorn does on its own (no close frame at all where a handler failed: the
client reports 1006); the guarded mount gives the same, correct close on every implementation.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support.servers import Server, run_server

pytestmark = pytest.mark.server

UVICORNS = ("uvicorn-websockets", "uvicorn-websockets-sansio", "uvicorn-wsproto")


@pytest.fixture(scope="module", params=UVICORNS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with run_server(request.param, "demo_app.app:app", ready_path="/api/closes") as running:
        yield running


@dataclass(frozen=True)
class Wire:
    """What reached the client: an HTTP status instead of a WebSocket, or how it closed."""

    #: The HTTP status that answered the handshake when it was refused.
    http: int | None = None
    #: The close frame received, as (code, reason); None when the connection ended without one.
    close: tuple[int, str] | None = None
    #: Text messages that came back from the echo scenario.
    echoed: tuple[str, ...] = ()


NO_FRAME = Wire()  # the TCP connection closed with no close frame: a browser reports 1006


def observe(url: str, messages: tuple[str, ...] = ()) -> Wire:
    """Connect to ``url``, send ``messages`` (each answered by one message, then the client
    closes with 1000), or else wait for the server to end the connection."""
    echoed: list[str] = []
    try:
        with connect(url, open_timeout=5, close_timeout=3) as websocket:
            if messages:
                for message in messages:
                    websocket.send(message)
                    echoed.append(str(websocket.recv(timeout=5)))
                websocket.close(1000, "done")
                reply = websocket.protocol.close_rcvd
                assert reply is not None, "the server did not answer the client's close"
                return Wire(close=(reply.code, reply.reason), echoed=tuple(echoed))
            websocket.recv(timeout=5)
            raise AssertionError("the server sent a message; the scenario sends none")
    except InvalidStatus as exc:
        return Wire(http=exc.response.status_code)
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            return NO_FRAME
        return Wire(close=(exc.rcvd.code, exc.rcvd.reason))
    except TimeoutError:
        raise AssertionError(f"{url} stayed open for 5 s without closing") from None


# scenario → (raw: {uvicorn --ws: what the client sees} or one Wire for all, guarded: one Wire)
WIRE = {
    "crash": (NO_FRAME, Wire(close=(1011, "Internal Error"))),
    "return": (NO_FRAME, Wire(close=(1000, ""))),
    "mapped": (NO_FRAME, Wire(close=(1013, "Try Again Later"))),
    "crash-before-accept": (Wire(http=500), Wire(http=500)),
    "close?code=4000&reason=ok": (Wire(close=(4000, "ok")), Wire(close=(4000, "ok"))),
    # uvicorn's websockets implementations crash on a forbidden code and send no frame;
    # wsproto rewrites it to 1000. The guard sends what the contract says on all three.
    "close?code=1006&reason=r": (
        {"uvicorn-websockets": NO_FRAME, "uvicorn-websockets-sansio": NO_FRAME,
         "uvicorn-wsproto": Wire(close=(1000, "r"))},
        Wire(close=(1011, "r")),
    ),
    "close?code=1005&reason=r": (
        {"uvicorn-websockets": NO_FRAME, "uvicorn-websockets-sansio": NO_FRAME,
         "uvicorn-wsproto": Wire(close=(1000, "r"))},
        Wire(close=(1000, "r")),
    ),
    "close?code=abc": (Wire(http=403), Wire(http=403)),
    # A refusal before accept is an HTTP 403 in the default mode: the 4401 never reaches a browser.
    "login-required": (Wire(http=403), Wire(http=403)),
}  # fmt: skip


@pytest.mark.parametrize("scenario", list(WIRE))
def test_scenario_on_the_wire(server: Server, scenario: str) -> None:
    raw, guarded = WIRE[scenario]
    expected_raw = raw[server.kind] if isinstance(raw, dict) else raw
    assert observe(server.ws_url(f"/raw/ws/{scenario}")) == expected_raw
    assert observe(server.ws_url(f"/guarded/ws/{scenario}")) == guarded


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("login-required", Wire(close=(4401, "login required"))),
        ("crash-before-accept", Wire(close=(1011, "Internal Error"))),
    ],
)
def test_refuse_with_close_on_the_wire(server: Server, scenario: str, expected: Wire) -> None:
    # The third mount answers a refusal before accept with an accept and a close.
    assert observe(server.ws_url(f"/guarded-close/ws/{scenario}")) == expected


def deploy(server: Server, spread: float) -> dict[str, float]:
    request = urllib.request.Request(server.http_url(f"/api/deploy?spread={spread}"), method="POST")
    with urllib.request.urlopen(request, timeout=spread + 10) as response:
        report: dict[str, float] = json.load(response)
    return report


def test_a_deploy_on_the_wire(server: Server) -> None:
    clients = 3
    closes: dict[str, list[tuple[int, str] | None]] = {"raw": [], "guarded": []}
    with contextlib.ExitStack() as stack:
        sessions = [
            (
                side,
                stack.enter_context(connect(server.ws_url(f"/{side}/ws/deploy"), open_timeout=5)),
            )
            for side in closes
            for _ in range(clients)
        ]
        for _, websocket in sessions:
            websocket.send("hello")
            assert websocket.recv(timeout=5) == "hello"
        report = deploy(server, spread=0.6)
        for side, websocket in sessions:
            with pytest.raises(ConnectionClosed) as closed:
                websocket.recv(timeout=5)
            frame = closed.value.rcvd
            closes[side].append(None if frame is None else (frame.code, frame.reason))
    assert (report["raw_closed"], report["drained"]) == (clients, clients)
    # uvicorn's own 1012 at a stop has no reason; the drain's says what it is.
    assert closes == {
        "raw": [(1012, "")] * clients,
        "guarded": [(1012, "Service Restart")] * clients,
    }
    # The fresh guard serves: a new session echoes again.
    seen = observe(server.ws_url("/guarded/ws/deploy"), messages=("back",))
    assert seen == Wire(close=(1000, "done"), echoed=("back",))


def test_echo_on_the_wire(server: Server) -> None:
    for mount in ("raw", "guarded"):
        seen = observe(server.ws_url(f"/{mount}/ws/echo"), messages=("hello", "안녕"))
        assert seen == Wire(close=(1000, "done"), echoed=("hello", "안녕"))


def test_guarded_crash_is_still_logged_and_recorded(server: Server) -> None:
    mark = server.mark()
    assert observe(server.ws_url("/guarded/ws/crash")) == Wire(close=(1011, "Internal Error"))
    # The guard re-raises, so the server logs the handler's exception as before...
    assert server.wait_for_output("the crash scenario raised after accept", since=mark, timeout=10)
    # ...and on_close fed /api/closes and /metrics.
    with urllib.request.urlopen(server.http_url("/api/closes"), timeout=5) as response:
        snapshot = json.load(response)
    latest = snapshot["records"][0]
    assert (latest["path"], latest["code"], latest["closed_by"], latest["exception"]) == (
        "/guarded/ws/crash",
        1011,
        "guard",
        "RuntimeError",
    )
    with urllib.request.urlopen(server.http_url("/metrics"), timeout=5) as response:
        metrics = response.read().decode()
    assert (
        'websocket_server_closes_total{closed_by="guard",code="1011",exception="RuntimeError",'
        'route="/guarded/ws/crash"}'
    ) in metrics
