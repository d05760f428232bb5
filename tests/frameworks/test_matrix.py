"""The framework matrix on real servers: every framework behind its adapter keeps FastAPI's
promise, row by row, on uvicorn, and Django Channels on daphne too; ``docs/frameworks.md`` is
what they did.

Both servers start once for the module and serve ``tests/frameworks/apps.py``; every cell is
observed once, concurrently, and the tests read the outcomes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect

from tests.frameworks.apps import ROUTES
from tests.frameworks.observe import (
    ROWS,
    Observations,
    Row,
    applies,
    fetch_record,
    observe,
    observe_one,
)
from tests.frameworks.report import (
    COMPARED,
    DAPHNE,
    DEVIATIONS,
    DOC_PATH,
    MATRIX,
    REFERENCE,
    REGENERATE,
    UVICORN,
    render,
    stale_versions,
    verdict,
    versions,
)
from tests.servers.report import stale_diff
from tests.support.servers import Server, ServerStartError, run_servers

pytestmark = [pytest.mark.server, pytest.mark.slow]

Started = dict[str, Server]

#: The column served without the guard that each guarded form is compared with.
RAW_OF = {
    "litestar-plugin": "litestar",
    "quart-extension": "quart",
    "channels-reraise-false": "channels",
}


@pytest.fixture(scope="module")
def servers() -> Iterator[Started]:
    """uvicorn and daphne serving every framework's app, started at once."""
    with run_servers(list(MATRIX), "tests.frameworks.apps:app", ready_path="/health") as found:
        failed = [str(error) for error in found.values() if isinstance(error, ServerStartError)]
        if failed:
            pytest.fail("\n\n".join(failed), pytrace=False)
        yield {kind: server for kind, server in found.items() if isinstance(server, Server)}


async def _observe_all(servers: Started) -> dict[str, Observations]:
    kinds = list(MATRIX)
    found = await asyncio.gather(*(observe(servers[kind], MATRIX[kind]) for kind in kinds))
    return dict(zip(kinds, found, strict=True))


#: A cell that differs from FastAPI's is observed again, with FastAPI's, this many times
#: before it counts: some cells hang on a server's own timer (autobahn, in daphne, gives the
#: client 1 s to answer a close), which a heavily loaded machine can miss once. A real
#: regression differs every time.
CONFIRMATIONS = 2


def _cells() -> list[tuple[str, str, Row]]:
    """Every guarded cell that is compared with FastAPI's: (server, column, row)."""
    return [
        (kind, column, row)
        for kind, columns in MATRIX.items()
        for column, side in columns
        if side == "guarded" and column in COMPARED
        for row in ROWS
        if applies(column, row)
    ]


def _differing(found: dict[str, Observations]) -> list[tuple[str, str, Row]]:
    return [
        (kind, column, row)
        for kind, column, row in _cells()
        if verdict(
            column,
            row,
            found[kind][(column, "guarded", row.id)],
            found[kind][(REFERENCE, "guarded", row.id)],
        )
        == "broken"
    ]


async def _observe_again(
    servers: Started, found: dict[str, Observations], cells: list[tuple[str, str, Row]]
) -> None:
    """Observe ``cells`` again, each with FastAPI's cell of the same row, in ``found``."""

    async def again(kind: str, column: str, row: Row) -> None:
        for name in (column, REFERENCE):
            found[kind][(name, "guarded", row.id)] = await observe_one(
                servers[kind], name, "guarded", row
            )

    await asyncio.gather(*(again(*cell) for cell in cells))


@pytest.fixture(scope="module")
def observations(servers: Started) -> dict[str, Observations]:
    """Every cell of the matrix, on every server."""
    found = asyncio.run(_observe_all(servers))
    for _ in range(CONFIRMATIONS):
        differing = _differing(found)
        if not differing:
            break
        asyncio.run(_observe_again(servers, found, differing))
    return found


@pytest.mark.parametrize(
    ("kind", "column", "row"),
    _cells(),
    ids=[f"{kind}-{column}-{row.id}" for kind, column, row in _cells()],
)
def test_behind_its_adapter_the_framework_keeps_fastapis_promise(
    observations: dict[str, Observations], kind: str, column: str, row: Row
) -> None:
    cell = observations[kind][(column, "guarded", row.id)]
    reference = observations[kind][(REFERENCE, "guarded", row.id)]
    found = verdict(column, row, cell, reference)
    assert found != "broken", (
        f"{column} on {kind}, {row.title}:\n  observed: {cell.text('guarded')}\n"
        f"  FastAPI:  {reference.text('guarded')}"
    )
    if (column, row.id) not in DEVIATIONS:
        assert found == "ok"


def test_the_promise_itself(observations: dict[str, Observations]) -> None:
    """FastAPI's cells on uvicorn are the contract's rows: what 'the same' compares with."""
    reference = {row.id: observations[UVICORN][(REFERENCE, "guarded", row.id)] for row in ROWS}
    assert reference["crash"].text("guarded") == (
        "1011 'Internal Error'<br>record: guard 1011 'Internal Error', RuntimeError"
    )
    assert reference["timeout"].client == "1013 'Try Again Later'"
    assert reference["crash-before-accept"].text("guarded") == (
        "HTTP 500<br>record: guard HTTP 500, RuntimeError"
    )
    assert reference["return"].client == "1000 ''"
    assert reference["close-long"].text("guarded") == (
        "4000 123-byte reason<br>record: app 4000 123-byte reason, no exception"
    )
    assert reference["client-close"].text("guarded") == (
        "reply 4001 'bye'<br>record: client 4001 'bye', no exception"
    )


def test_no_exception_text_reaches_a_client_behind_an_adapter(
    observations: dict[str, Observations],
) -> None:
    leaked = [
        (kind, key)
        for kind, cells in observations.items()
        for key, cell in cells.items()
        if key[1] == "guarded" and cell.leaked
    ]
    assert leaked == []
    # The check sees a leak where there is one: BlackSheep alone sends `str(exc)`.
    assert observations[UVICORN][("blacksheep", "raw", "crash")].leaked


def test_the_frameworks_own_exception_keeps_the_frameworks_close(
    observations: dict[str, Observations],
) -> None:
    """Behind the adapter the client sees what the framework alone sends for its own
    exception."""
    own = next(row for row in ROWS if row.id == "own")
    for kind, columns in MATRIX.items():
        for column, side in columns:
            if side == "guarded" and applies(column, own):
                alone = RAW_OF.get(column, column)
                guarded = observations[kind][(column, "guarded", "own")].client
                assert guarded == observations[kind][(alone, "raw", "own")].client, column


def test_each_crash_is_logged_once_with_or_without_the_guard(
    servers: Started, observations: dict[str, Observations]
) -> None:
    """Behind an adapter the framework reports a crash as it does alone — Quart's, Falcon's,
    BlackSheep's and Litestar's own log line (the matrix's Litestar apps log exceptions) — and
    the server logs nothing more; Channels and FastAPI, which let it through, get the server's
    traceback, as alone. Once, every time."""
    log = servers[UVICORN].output()
    for (column, side, row), cell in observations[UVICORN].items():
        if row in ("crash", "timeout", "crash-before-accept"):
            assert log.count(f"{row} {cell.token}") == 1, (column, side, row)


def test_every_guarded_connection_records_its_frameworks_route(
    observations: dict[str, Observations],
) -> None:
    for kind, cells in observations.items():
        for (column, side, row), cell in cells.items():
            if side == "guarded" and row != "no-route":
                assert cell.record is not None, (kind, column, row)
                assert cell.record["route"] == ROUTES[column.split("-", 1)[0]], (kind, column, row)
            if side == "guarded" and row == "no-route" and cell.record is not None:
                assert cell.record["route"] is None, (kind, column)


def test_a_litestar_path_with_no_route_is_http_403(observations: dict[str, Observations]) -> None:
    for column in ("litestar", "litestar-plugin"):
        assert observations[UVICORN][(column, "guarded", "no-route")].client == "HTTP 403"
    assert observations[UVICORN][("litestar", "raw", "no-route")].client == "HTTP 403"


def test_docs_frameworks_md_was_measured_with_the_installed_versions() -> None:
    page = DOC_PATH.read_text(encoding="utf-8")
    assert stale_versions(page, versions()) == [], f"regenerate docs/frameworks.md: `{REGENERATE}`"


def test_docs_frameworks_md_matches_what_the_frameworks_did(
    servers: Started, observations: dict[str, Observations]
) -> None:
    renders = [render(observations[UVICORN], observations[DAPHNE])]
    diff = stale_diff(renders, DOC_PATH)
    if diff:
        # Look again before calling the page stale: a loaded machine can miss a server's timer.
        again = asyncio.run(_observe_all(servers))
        renders.append(render(again[UVICORN], again[DAPHNE]))
        diff = stale_diff(renders, DOC_PATH)
    assert not diff, f"docs/frameworks.md is stale; run `{REGENERATE}`:\n{diff}"


def test_python_socketio_handler_exceptions_never_reach_the_guard(servers: Started) -> None:
    """What docs/frameworks.md says of python-socketio: a handler's exception stays engine.io's
    (asyncio logs it), the connection stays open, and the record holds only the transport's
    close."""
    server = servers[UVICORN]
    token = uuid.uuid4().hex

    async def session() -> str:
        url = server.ws_url(f"/socket.io/?EIO=4&transport=websocket&t={token}")
        async with connect(url, open_timeout=5) as ws:
            assert str(await ws.recv()).startswith("0{")  # engine.io open
            await ws.send("40")
            assert str(await ws.recv()).startswith("40")  # socket.io connect
            await ws.send(f'421["boom","{token}"]')
            await ws.send('422["ping",null]')
            answer = str(await asyncio.wait_for(ws.recv(), 5))
            await ws.close(4001, "bye")
            return answer

    assert asyncio.run(session()) == '432["pong"]'  # still open after the handler raised
    record = fetch_record(server, token)
    assert record is not None
    assert (record["closed_by"], record["code"], record["reason"], record["exception"]) == (
        "client",
        4001,
        "bye",
        None,
    )
    assert server.wait_for_output(f"boom {token}", timeout=3)
    assert "Task exception was never retrieved" in server.output()


def test_on_daphne_a_mapped_1013_arrives_as_4013_when_the_guard_does_not_reraise(
    observations: dict[str, Observations],
) -> None:
    daphne = observations[DAPHNE]
    assert daphne[("channels-reraise-false", "guarded", "timeout")].code == 4013
    assert daphne[("channels-reraise-false", "guarded", "crash")].code == 4011
    assert daphne[("channels", "guarded", "timeout")].code == 1011  # re-raised: daphne's own
