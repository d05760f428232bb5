"""Run every scenario against a running server and describe what happened, deterministically.

One :class:`Scenario` per contract row that a client or the app can observe. :func:`observe`
runs all of them against one server, raw and guarded, concurrently (so a scenario that leaves a
socket open costs its timeout once, not once per row), with the real ``websockets`` client, and
returns :class:`Outcome` objects: what the client saw (HTTP status, close frame, no frame, a
frame it had to reject, or a socket left open), what the app observed (fetched from the app's
``/report`` endpoint), and whether the server logged the scenario's exception.

Everything an outcome holds is free of timing and of exception text, so the same server gives
the same outcomes on every run: ``docs/servers.md`` is rendered from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import uuid
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tests.support.servers import Server

T = TypeVar("T")
Side = Literal["raw", "guarded"]
SIDES: tuple[Side, ...] = ("raw", "guarded")

#: A socket still open this long after the scenario should have closed it is "left open".
LEFT_OPEN_AFTER = 3.0
#: Bound on the opening handshake. Shorter than daphne's 5-second `websocket_connect_timeout`,
#: so a handshake the app never answers is seen as unanswered on every run, never as whatever
#: daphne does once that timer fires.
OPEN_TIMEOUT = 3.0
#: Scenarios run at once per server. All at once is fastest, but on a loaded machine the client
#: then answers a close late enough to trip servers' own close timers (autobahn, in daphne,
#: gives the client 1 s), and the raw tables would change from run to run.
CONCURRENCY = 12
#: A cell that misses is observed again this many times before it counts as a failure: some
#: cells hang on a server's own timer (autobahn, in daphne, waits 1 s for the client's answer
#: to a close), which a heavily loaded machine can miss once. A real regression misses every
#: time, and the failure lists every attempt.
CONFIRMATIONS = 2
#: Bound on the client's own closing handshake.
CLOSE_TIMEOUT = 2.0

ClientAction = Literal["wait", "echo", "close-4001", "close-empty", "drop"]


@dataclass(frozen=True)
class Scenario:
    """One row: the app's path and query, and what the client does once connected."""

    id: str
    title: str
    path: str
    client: ClientAction = "wait"
    #: Whether the scenario raises an exception the server should log.
    raises: bool = False


#: Every row of the suite, in the order ``docs/servers.md`` lists them.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("echo", "echo, then the client closes 1000", "echo", client="echo"),
    Scenario("crash", "app raises after accept", "crash", raises=True),
    Scenario("timeout", "app raises TimeoutError (mapped to 1013)", "timeout", raises=True),
    Scenario("crash-before-accept", "app raises before accept", "crash-before-accept", raises=True),
    Scenario("return", "app returns after accept", "return"),
    Scenario("return-before-accept", "app returns before accept", "return-before-accept"),
    Scenario("close-1000", "close(1000, 'why')", "close?code=1000&reason=why"),
    Scenario("close-1001", "close(1001, 'why')", "close?code=1001&reason=why"),
    Scenario("close-1011", "close(1011, 'why')", "close?code=1011&reason=why"),
    Scenario("close-4000", "close(4000, 'why')", "close?code=4000&reason=why"),
    Scenario(
        "close-4000-return",
        "close(4000, 'why'), then return at once",
        "close?code=4000&reason=why&then=return",
    ),
    Scenario("close-1005", "close(1005, 'why')", "close?code=1005&reason=why"),
    Scenario("close-1006", "close(1006, 'why')", "close?code=1006&reason=why"),
    Scenario("close-999", "close(999, 'why')", "close?code=999&reason=why"),
    Scenario("close-65536", "close(65536, 'why')", "close?code=65536&reason=why"),
    Scenario("close-none", "close(code=None)", "close?code=none"),
    Scenario("close-missing", "close, no code key", "close?code=missing"),
    Scenario(
        "close-reason-150", "close(4000), 150-byte reason", "close?code=4000&reason_bytes=150"
    ),
    Scenario("close-twice", "close twice", "close-twice"),
    Scenario("send-after-close", "send after close", "send-after-close"),
    Scenario("client-4001", "client closes 4001 'bye'", "client-close", client="close-4001"),
    Scenario("client-empty", "client sends an empty close frame", "client-close", "close-empty"),
    Scenario("client-drop", "client drops TCP, no close frame", "client-close", client="drop"),
)

SCENARIO_IDS: tuple[str, ...] = tuple(s.id for s in SCENARIOS)


@dataclass
class ClientView:
    """What the client saw. Exactly one of the "how it ended" fields is set."""

    http_status: int | None = None  # the handshake was answered with this HTTP status
    handshake_failed: str | None = None  # the handshake got no valid HTTP response at all
    client_error: str | None = None  # the client itself failed (a timeout, a refused connect)
    close_code: int | None = None  # a close frame arrived with this code (1005: empty frame)
    close_reason: str | None = None
    no_close_frame: bool = False  # TCP closed with no close frame (the client reports 1006)
    rejected: str | None = None  # the server sent a frame the client had to reject (1002)
    left_open: bool = False  # nothing closed the socket within LEFT_OPEN_AFTER seconds
    echoed: bool | None = None  # echo scenario: both messages came back
    received: list[str] = field(default_factory=list)  # text messages before the end


@dataclass
class Outcome:
    """One scenario on one side of one server."""

    scenario: str
    side: Side
    client: ClientView
    app: dict[str, Any] | None  # the app's report, ``None`` when it stored none
    logged: bool | None = None  # whether the server logged the scenario's exception

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _fetch_report(server: Server, token: str) -> dict[str, Any] | None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", f"/report?t={token}")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        return None
    report: dict[str, Any] = json.loads(body)
    report.pop("done", None)
    report.pop("scenario", None)
    return report


def _bounded(awaitable: Awaitable[T]) -> Awaitable[T]:
    """``awaitable`` limited to LEFT_OPEN_AFTER seconds (``asyncio.wait_for``: Python 3.10 too)."""
    return asyncio.wait_for(awaitable, LEFT_OPEN_AFTER)


async def _wait_for_end(ws: ClientConnection, view: ClientView) -> None:
    """Read until the connection ends; note what arrived; give up after LEFT_OPEN_AFTER."""

    async def read_all() -> None:
        while True:
            message = await ws.recv()
            view.received.append(message if isinstance(message, str) else "<bytes>")

    try:
        await _bounded(read_all())
    except ConnectionClosed:
        pass
    except asyncio.TimeoutError:
        view.left_open = True


def _describe_end(ws: ClientConnection, view: ClientView) -> None:
    """Fill in how the connection ended, from the client protocol's own record."""
    if view.left_open:
        return
    protocol = ws.protocol
    received = protocol.close_rcvd
    if received is not None:
        view.close_code = int(received.code)
        view.close_reason = received.reason
    elif protocol.parser_exc is not None and not isinstance(protocol.parser_exc, EOFError):
        # websockets refuses a close frame with a code that may not be sent, or one longer
        # than 125 bytes, and fails the connection with 1002.
        view.rejected = str(protocol.parser_exc)
    else:
        view.no_close_frame = True


async def _client(server: Server, url: str, scenario: Scenario) -> ClientView:
    view = ClientView()
    try:
        ws = await connect(
            url, open_timeout=OPEN_TIMEOUT, close_timeout=CLOSE_TIMEOUT, max_queue=None
        )
    except InvalidStatus as exc:
        view.http_status = exc.response.status_code
        return view
    except InvalidHandshake as exc:
        view.handshake_failed = type(exc).__name__
        return view
    except asyncio.TimeoutError:
        view.handshake_failed = "unanswered"
        return view
    try:
        if scenario.client == "wait":
            await _wait_for_end(ws, view)
        elif scenario.client == "echo":
            await ws.send("hello")
            text = await _bounded(ws.recv())
            await ws.send(b"\x00\x01")
            data = await _bounded(ws.recv())
            view.echoed = text == "hello" and data == b"\x00\x01"
            await _bounded(ws.close(1000, "done"))
        else:
            # "ready": the app is receiving
            view.received.append(str(await _bounded(ws.recv())))
            if scenario.client == "close-4001":
                await ws.close(4001, "bye")
            elif scenario.client == "close-empty":
                # websockets sends a close frame with no payload for code None.
                await ws.close(None, "")  # type: ignore[arg-type]
            else:
                ws.transport.close()  # FIN with no close frame
                await _bounded(ws.wait_closed())
        if not view.left_open:
            # Let the client finish its side of the closing handshake (its reply must reach the
            # server) before the connection is torn down: the server's report of the close
            # would otherwise race the abort below.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), CLOSE_TIMEOUT + 1)
        _describe_end(ws, view)
    finally:
        ws.transport.abort()
    return view


def fetch_implementation(server: Server) -> str:
    """``module.Class`` behind the server's WebSocket ``send``, as the app saw it ("" if unknown).

    Call it after a raw scenario has run: the app notes the class on every raw connection.
    """
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/implementation")
        response = conn.getresponse()
        body = response.read().decode()
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        conn.close()
    return body if response.status == 200 else ""


async def observe_one(server: Server, scenario: Scenario, side: Side) -> Outcome:
    """Run one scenario on one side of ``server``."""
    token = uuid.uuid4().hex
    separator = "&" if "?" in scenario.path else "?"
    url = server.ws_url(f"/{side}/{scenario.path}{separator}t={token}")
    try:
        view = await _client(server, url, scenario)
    except Exception as exc:
        # Only this cell fails (with the error in its text); the other scenarios still count.
        view = ClientView(client_error=f"{type(exc).__name__}: {exc}")
    try:
        report = await asyncio.to_thread(_fetch_report, server, token)
    except Exception as exc:
        report = {"report_error": f"{type(exc).__name__}: {exc}"}
    logged = None
    if scenario.raises:
        # The scenario's exception carries the token: find its traceback in the server's log.
        logged = await asyncio.to_thread(server.wait_for_output, token, timeout=2.0)
    return Outcome(scenario.id, side, view, report, logged)


async def observe(
    server: Server, scenarios: tuple[Scenario, ...] = SCENARIOS, *, concurrency: int = CONCURRENCY
) -> dict[tuple[str, Side], Outcome]:
    """Run every scenario on both sides of ``server``, ``concurrency`` at a time.

    Returns ``{(scenario id, side): Outcome}``.
    """
    limit = asyncio.Semaphore(concurrency)

    async def one(scenario: Scenario, side: Side) -> Outcome:
        async with limit:
            return await observe_one(server, scenario, side)

    jobs = [(scenario, side) for scenario in scenarios for side in SIDES]
    results = await asyncio.gather(*(one(s, side) for s, side in jobs))
    return {(outcome.scenario, outcome.side): outcome for outcome in results}
