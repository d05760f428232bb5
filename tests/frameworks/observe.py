"""Run every row against every framework on a running server, and describe what happened.

The client is python ``websockets``; the record comes from the app's ``/record`` endpoint.
Each :class:`Outcome` is free of timing and of exception text (the secret is checked, then
reduced to a flag), so the same server gives the same outcomes on every run and
``docs/frameworks.md`` can be rendered from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tests.frameworks.apps import FRAMEWORKS, IDIOMS, OWN, SECRET
from tests.support.servers import Server

Side = Literal["raw", "guarded"]

#: A socket still open this long after the row should have closed it is "left open".
LEFT_OPEN_AFTER = 3.0
OPEN_TIMEOUT = 3.0
CLOSE_TIMEOUT = 2.0
CONCURRENCY = 12


@dataclass(frozen=True)
class Row:
    """One row of the matrix: a scenario of the app and what the client does."""

    id: str
    title: str
    client: Literal["wait", "close-4001"] = "wait"


ROWS: tuple[Row, ...] = (
    Row("crash", "raises after accept"),
    Row("timeout", "raises `TimeoutError` after accept (mapped to 1013)"),
    Row("crash-before-accept", "raises before accept"),
    Row("return", "returns after accept"),
    Row("close-long", "closes 4000 with a 200-byte reason"),
    Row("close-1006", "closes 1006 'why' (a code that may not be sent)"),
    Row("client-close", "the client closes 4001 'bye'", client="close-4001"),
    Row("own", "the framework's own exception"),
    Row("no-route", "a path with no route"),
)

#: The columns: every framework raw and guarded, then the idiomatic forms (guarded only).
COLUMNS: tuple[tuple[str, Side], ...] = (
    *((name, side) for name in FRAMEWORKS for side in ("raw", "guarded")),
    *((name, "guarded") for name in IDIOMS),
)


def framework_of(column: str) -> str:
    """``litestar-plugin`` → ``litestar``; ``channels-sync`` → ``channels``."""
    return column.split("-", 1)[0]


def applies(column: str, row: Row) -> bool:
    """Whether ``row`` exists for ``column`` (BlackSheep has no exception of its own)."""
    return row.id != "own" or bool(OWN[framework_of(column)])


@dataclass(frozen=True)
class Outcome:
    """What the client saw and what the guard recorded, for one row of one column."""

    client: str  # "1011 'Internal Error'", "HTTP 500", "reply 4001 'bye'", "left open"
    code: int | None  # the close code the client got; None: HTTP, or no close frame
    record: dict[str, Any] | None  # the guarded connection's record (apps.record_json)
    leaked: bool  # the exception's text reached the client
    token: str = field(default="", compare=False)  # names the run in the server's log

    def text(self, side: Side) -> str:
        """Both parts, as one table cell."""
        if side == "raw":
            return self.client
        return f"{self.client}<br>record: {describe_record(self.record)}"


def _reason(reason: str) -> str:
    size = len(reason.encode("utf-8", "surrogatepass"))
    return f"{size}-byte reason" if len(reason) > 24 else repr(reason)


def describe_record(record: dict[str, Any] | None) -> str:
    """``guard 1011 'Internal Error', RuntimeError``; ``guard HTTP 500, RuntimeError``."""
    if record is None:
        return "none"
    if record["accepted"]:
        what = f"{record['code']} {_reason(record['reason'])}"
    else:
        what = f"HTTP {record['http_status']}"
    exception = record["exception"] or "no exception"
    return f"{record['closed_by']} {what}, {exception}"


def promised(row: Row, outcome: Outcome) -> tuple[object, ...]:
    """The parts of an outcome that the promise is about, for comparing a framework's cell with
    FastAPI's.

    Everything, except where the promise leaves the framework its own way: after a handler
    returns, the close is 1000 whoever sends it (Quart and Falcon close themselves; Falcon adds
    the reason "Normal Closure"); the framework's own exception keeps the framework's own close,
    so only who closed and that no exception escaped are compared; a path with no route gets the
    framework's own refusal, so only that it is an HTTP refusal is compared.
    """
    record = outcome.record or {}
    if row.id == "no-route":
        return (outcome.client.startswith("HTTP "),)
    if row.id == "return":
        return outcome.code, record.get("code"), record.get("exception"), record.get("accepted")
    if row.id == "own":
        return record.get("closed_by"), record.get("exception")
    return outcome.client, describe_record(outcome.record)


async def _client(url: str, row: Row) -> tuple[str, int | None, bool]:
    try:
        ws = await connect(
            url, open_timeout=OPEN_TIMEOUT, close_timeout=CLOSE_TIMEOUT, max_queue=None
        )
    except InvalidStatus as exc:
        body = exc.response.body or b""
        return f"HTTP {exc.response.status_code}", None, SECRET.encode() in body
    except InvalidHandshake as exc:
        return f"no HTTP response ({type(exc).__name__})", None, False
    except asyncio.TimeoutError:
        return "handshake unanswered", None, False
    try:
        if row.client == "close-4001":
            first = await asyncio.wait_for(ws.recv(), LEFT_OPEN_AFTER)
            if first != "ready":
                return f"unexpected message {first!r}", None, False
            await ws.close(4001, "bye")
        else:
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), LEFT_OPEN_AFTER)
            except ConnectionClosed:
                pass
            except asyncio.TimeoutError:
                return "left open", None, False
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), CLOSE_TIMEOUT + 1)
        received = ws.protocol.close_rcvd
        if received is None:
            return "no close frame (1006)", None, False
        prefix = "reply " if row.client == "close-4001" else ""
        leaked = SECRET in received.reason
        return f"{prefix}{received.code} {_reason(received.reason)}", received.code, leaked
    finally:
        ws.transport.abort()


def fetch_record(server: Server, token: str) -> dict[str, Any] | None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=15)
    try:
        conn.request("GET", f"/record?t={token}")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    found: dict[str, Any] | None = json.loads(body) if response.status == 200 else None
    return found


async def observe_one(server: Server, column: str, side: Side, row: Row) -> Outcome:
    """Run one row on one column of ``server``."""
    token = uuid.uuid4().hex
    url = server.ws_url(f"/{column}/{side}/{row.id}?t={token}")
    try:
        client, code, leaked = await _client(url, row)
    except Exception as exc:
        client, code, leaked = f"client error: {type(exc).__name__}", None, False
    record = None
    if side == "guarded":
        record = await asyncio.to_thread(fetch_record, server, token)
    return Outcome(client, code, record, leaked, token)


Observations = dict[tuple[str, Side, str], Outcome]


async def observe(server: Server, columns: tuple[tuple[str, Side], ...] = COLUMNS) -> Observations:
    """Every row of every column on ``server``: ``{(column, side, row id): Outcome}``."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(column: str, side: Side, row: Row) -> tuple[tuple[str, Side, str], Outcome]:
        async with limit:
            return (column, side, row.id), await observe_one(server, column, side, row)

    jobs = [
        one(column, side, row) for column, side in columns for row in ROWS if applies(column, row)
    ]
    return dict(await asyncio.gather(*jobs))
