"""The scripted connections the PromQL tests play against a real server, what each one is, and
what each server reports of it.

Every connection has a truth (:class:`Close`: the code that really went on the wire, who
closed, the exception) and, per server, what the guard can record of it: the same, except for
a client's close, whose code is what the server hands the app (``docs/servers.md``). The
PromQL tests compare Prometheus's answers with the second, and the page's table of where each
query holds with whether the two agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integrations.observability_docs import relabelling
from tests.support.servers import Server

#: The routes of :mod:`tests.integrations.promql_routes`, as templates.
ECHO, CRASH, KICK, REFUSE, EARLY, HOLD = (
    f"/rooms/{{room}}/{name}" for name in ("echo", "crash", "kick", "refuse", "early", "hold")
)
BOOM = "tests.integrations.promql_routes.Boom"
#: How many connections stay open while Prometheus scrapes, in each run of the script.
HELD_OPEN = 3
_BOUND = 10.0

T = TypeVar("T")


@dataclass(frozen=True)
class Close:
    """One connection's end, as Prometheus labels it (after the page's relabelling)."""

    route: str
    code: str
    closed_by: str
    exception: str = ""
    #: For a client's close, what the client did: a code it sent, "no-code" or "vanish".
    client: str = ""
    #: The connection lasted more than a second (the ``hold`` route).
    long: bool = False

    @property
    def accepted(self) -> bool:
        return self.code != "none"


# What the script does, and what truly happened each time: (the client's part, its close, how
# many of them). A client that vanishes sends no close frame (the truth is 1006, RFC 6455
# §7.1.5); one that closes without a code sends an empty close frame (1005).
async def _echo_then(server: Server, ending: str) -> None:
    async with _connected(server, ECHO) as websocket:
        await websocket.send("hi")
        assert await _bounded(websocket.recv()) == "hi"
        if ending == "vanish":
            websocket.transport.close()  # FIN, no close frame
        elif ending == "no-code":
            await _bounded(websocket.close(None))  # type: ignore[arg-type] - an empty close frame
        elif ending == "fail":
            await websocket.send("fail")
            with contextlib.suppress(ConnectionClosed):
                await _bounded(websocket.recv())
            assert websocket.close_code == 1011, websocket.close_code
        else:
            await _bounded(websocket.close(int(ending)))


async def _server_closes(server: Server, route: str, code: int) -> None:
    async with _connected(server, route) as websocket:
        with contextlib.suppress(ConnectionClosed):
            await _bounded(websocket.recv())
        await _bounded(websocket.wait_closed())
        assert websocket.close_code == code, (route, websocket.close_code)


async def _refused(server: Server, route: str, status: int) -> None:
    refusal: InvalidStatus | None = None
    try:
        async with _connected(server, route):
            pass
    except InvalidStatus as exc:
        refusal = exc
    assert refusal is not None, f"{route} was accepted"
    assert refusal.response.status_code == status, (route, refusal.response.status_code)


async def _play_one(server: Server, close: Close) -> None:
    """The client's part of ``close``."""
    if close.route == ECHO:
        await _echo_then(server, close.client or "fail")
    elif close.code == "none":
        await _refused(server, close.route, 500 if close.exception else 403)
    else:
        await _server_closes(server, close.route, int(close.code))


#: Each connection of one run of the script, as it truly ends, and how many times.
SCRIPT: list[tuple[Close, int]] = [
    (Close(ECHO, "1000", "client", client="1000"), 3),
    (Close(ECHO, "1001", "client", client="1001"), 2),
    (Close(ECHO, "4001", "client", client="4001"), 2),
    (Close(ECHO, "1005", "client", client="no-code"), 2),
    (Close(ECHO, "1006", "client", client="vanish"), 3),
    (Close(ECHO, "1011", "guard", "ValueError"), 1),  # the client sends "fail"
    (Close(CRASH, "1011", "guard", BOOM), 5),
    (Close(KICK, "4000", "app"), 2),
    (Close(HOLD, "1000", "app", long=True), 2),
    (Close(REFUSE, "none", "app"), 2),  # HTTP 403
    (Close(EARLY, "none", "guard", BOOM), 1),  # HTTP 500
]

#: The connections held open while Prometheus scrapes: echo, then the client's 1000.
HELD = Close(ECHO, "1000", "client", client="1000")


def truth() -> list[Close]:
    """Every connection of one run of the script, as it truly ended, relabelled."""
    closes = [close for close, times in SCRIPT for _ in range(times)]
    return [_relabelled(close) for close in [*closes, *[HELD] * HELD_OPEN]]


# What each server hands the app for a client's close (docs/servers.md, ‡6 and ‡7): the code it
# sent, else {what the client did: the code reported}.
_REPORTED_CLIENT_CODES: dict[str, dict[str, str]] = {
    "uvicorn-websockets": {"no-code": "1005", "vanish": "1006"},
    "uvicorn-websockets-sansio": {"no-code": "1005", "vanish": "1005"},
    "hypercorn": dict.fromkeys(("1000", "1001", "4001", "no-code", "vanish"), "1006"),
}

#: The servers the PromQL tests run on, and the column of the page's table each belongs to.
SERVER_COLUMNS = {
    "uvicorn-websockets": 0,
    "uvicorn-websockets-sansio": 1,
    "hypercorn": 2,
}


def recorded(server_kind: str) -> list[Close]:
    """Every connection of one run of the script, as the guard records it on that server."""
    reported = _REPORTED_CLIENT_CODES[server_kind]
    return [
        _relabelled(replace(close, code=reported.get(close.client, close.client)))
        if close.closed_by == "client"
        else close
        for close in truth()
    ]


def _relabelled(close: Close) -> Close:
    """The page's metric_relabel_configs, applied as Prometheus applies it to the counter."""
    config = relabelling()
    regex = re.search(r'regex: "(.*)"', config)
    replacement = re.search(r'replacement: "(.*)"', config)
    assert regex is not None, config
    assert replacement is not None, config
    joined = f"websocket_server_closes_total;{close.closed_by};{close.code}"
    match = re.fullmatch(regex.group(1), joined)
    if match is None:
        return close
    return replace(close, code=match.expand(replacement.group(1).replace("${1}", r"\1")))


async def play(server: Server) -> None:
    """One run of the script, its connections at once, each bounded."""
    await asyncio.gather(
        *(_play_one(server, close) for close, times in SCRIPT for _ in range(times))
    )


@contextlib.asynccontextmanager
async def hold_open(server: Server, count: int) -> AsyncIterator[list[ClientConnection]]:
    """``count`` echo connections, open while the block runs, then closed with 1000."""
    async with contextlib.AsyncExitStack() as stack:
        websockets = [
            await stack.enter_async_context(_connected(server, ECHO)) for _ in range(count)
        ]
        for websocket in websockets:  # each one accepted and echoing
            await websocket.send("pid")
            await _bounded(websocket.recv())
        yield websockets
        for websocket in websockets:
            await _bounded(websocket.close(1000))


def _connected(
    server: Server, route: str
) -> contextlib.AbstractAsyncContextManager[ClientConnection]:
    url = server.ws_url(route.replace("{room}", "r-1"))
    return connect(url, open_timeout=_BOUND, close_timeout=_BOUND)


def _bounded(awaitable: Awaitable[T]) -> Awaitable[T]:
    return asyncio.wait_for(awaitable, _BOUND)


def exposition(server: Server) -> dict[str, float]:
    """The server's own ``/metrics``: the closes counted and the connections open, summed."""
    with urllib.request.urlopen(server.http_url("/metrics"), timeout=_BOUND) as response:
        families = text_string_to_metric_families(response.read().decode())
        totals = {"closes": 0.0, "open": 0.0}
        for family in families:
            for sample in family.samples:
                if sample.name == "websocket_server_closes_total":
                    totals["closes"] += sample.value
                elif sample.name == "websocket_server_connections":
                    totals["open"] += sample.value
        return totals


def wait_for_exposition(server: Server, *, closes: int, open_now: int) -> float:
    """Wait (bounded) until the server's ``/metrics`` counts ``closes`` closes and ``open_now``
    open connections; return the moment it did (a Unix time)."""
    deadline = time.monotonic() + _BOUND
    while True:
        seen = exposition(server)
        if seen == {"closes": closes, "open": open_now}:
            return time.time()
        if time.monotonic() >= deadline:
            raise AssertionError(f"expected {closes} closes, {open_now} open; /metrics has {seen}")
        time.sleep(0.05)


def count(
    closes: Iterable[Close], where: Callable[[Close], bool], by: Callable[[Close], tuple[str, ...]]
) -> dict[tuple[str, ...], float]:
    """How many of ``closes`` match ``where``, grouped by ``by``."""
    counted: dict[tuple[str, ...], float] = {}
    for close in closes:
        if where(close):
            counted[by(close)] = counted.get(by(close), 0.0) + 1
    return counted
