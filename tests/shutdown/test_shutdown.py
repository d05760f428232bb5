"""The guard's promises at shutdown, on the seven setups, and the "At shutdown" section.

Each setup is signalled (``SIGTERM`` to the server's PID) with WebSockets open, raw and guarded
at the same moment (see :mod:`tests.shutdown.run`). Behind the guard: no client gets 1000;
every client gets the setup's "come back" code (1012; daphne 4012; none where the server drops
the sockets, documented); one record per connection wherever Python still runs for it; no error
line the raw server does not print; the server gone no later than the raw one plus 0.5 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.servers.report import REGENERATE, stale_diff
from tests.shutdown.conftest import Results
from tests.shutdown.expectations import (
    COME_BACK_CODE,
    EXIT_MARGIN,
    NO_RECORDS,
    close_text,
    errors_text,
    record_text,
)
from tests.shutdown.report import (
    exits_in_time,
    main_result,
    records_as_promised,
    render_section,
    shutdown_runs,
    wrong_codes,
)
from tests.shutdown.run import ClientEnd, RunResult, Side, conn_name, observe_runs
from tests.support.servers import SERVER_KINDS

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.slow]

#: A promise that misses is observed again this many times (a pair of runs, about 5 s) before
#: it counts as broken: a loaded machine can delay one exit; a broken guard breaks it every time.
CONFIRMATIONS = 2


def made(results: Results, kind: str, side: Side) -> RunResult:
    """The main run of ``kind`` on ``side``; fails the test if it could not be made."""
    result = main_result(results, kind, side)
    if result.failure:
        first = f"first attempt: {result.first_failure}\n" if result.first_failure else ""
        pytest.fail(f"{first}{result.failure}\n{result.output[-3000:]}", pytrace=False)
    return result


def confirmed(
    results: Results, kind: str, problem: Callable[[RunResult, RunResult], object]
) -> list[object]:
    """``problem(raw, guarded)`` for ``kind``'s pair, observed again while it is not empty.

    Up to :data:`CONFIRMATIONS` more pairs of runs: a loaded machine can delay one server once
    (granian then kills its worker before the guard has written every record); a broken
    promise is broken every time. Returns every attempt's problem, the last one last.
    """
    raw, guarded = made(results, kind, "raw"), made(results, kind, "guarded")
    seen = [problem(raw, guarded)]
    while seen[-1] and len(seen) <= CONFIRMATIONS:
        again = asyncio.run(observe_runs([raw.run, guarded.run]))
        raw, guarded = again[raw.run], again[guarded.run]
        seen.append(problem(raw, guarded) if not (raw.failure or guarded.failure) else "failed")
    return seen


def ends(result: RunResult) -> dict[str, ClientEnd]:
    """Every client's end, by connection name."""
    return {conn_name(*key): end for key, end in result.clients.items()}


@pytest.mark.parametrize("side", ["raw", "guarded"])
@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_every_connection_was_open_when_the_signal_came(
    kind: str, side: Side, shutdown_results: Results
) -> None:
    result = made(shutdown_results, kind, side)
    assert set(result.clients) == set(result.run.connections())


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_no_guarded_client_gets_1000(kind: str, shutdown_results: Results) -> None:
    # 1000 tells every reconnecting client to stay away: never the answer to a restart.
    result = made(shutdown_results, kind, "guarded")
    got_1000 = [conn for conn, end in ends(result).items() if end.code == 1000]
    assert got_1000 == []


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_every_guarded_client_gets_the_setups_come_back_code(
    kind: str, shutdown_results: Results
) -> None:
    # 1012 everywhere the guard can send it (uvicorn's own, the guard's when hypercorn cancels),
    # 4012 on daphne (the fallback), no close frame where the server drops the sockets first.
    seen = confirmed(shutdown_results, kind, lambda raw, guarded: wrong_codes(guarded))
    want = COME_BACK_CODE[kind]
    assert not seen[-1], f"expected {want or 'no close frame'}; every attempt: {seen}"


@pytest.mark.parametrize("kind", ["hypercorn", "gunicorn"])
def test_what_hypercorn_and_gunicorn_send_raw(kind: str, shutdown_results: Results) -> None:
    # The cells the guard changes most: hypercorn's 1011 after cancelling, gunicorn's silence.
    result = made(shutdown_results, kind, "raw")
    texts = {close_text(end) for end in ends(result).values()}
    assert texts == ({"1011 ''"} if kind == "hypercorn" else {"no close frame (1006)"})


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_one_record_per_connection(kind: str, shutdown_results: Results) -> None:
    # gunicorn kills its worker before any handler is resumed: nothing can be written there.
    # granian abandons its handlers; without the lifespan shutdown (it skips it in some runs)
    # the guard is never resumed to write their records.

    def problem(raw: RunResult, guarded: RunResult) -> object:
        if records_as_promised(guarded):
            return None
        counts = {conn_name(*key): len(guarded.records(conn_name(*key))) for key in guarded.clients}
        return (counts, guarded.lifespan())

    seen = confirmed(shutdown_results, kind, problem)
    assert not seen[-1], f"every attempt: {seen}"


@pytest.mark.parametrize("kind", sorted(set(SERVER_KINDS) - NO_RECORDS))
def test_every_record_says_the_server_ended_the_connection(
    kind: str, shutdown_results: Results
) -> None:

    def problem(raw: RunResult, guarded: RunResult) -> dict[str, str]:
        wrong = {}
        for key in guarded.clients:
            conn = conn_name(*key)
            told = [line["what"] for line in guarded.for_conn(conn, "saw")]
            # granian can report its drop to a handler in receive() as a 1005 disconnect: to a
            # middleware that is a client's close frame without a code (unless the lifespan
            # shutdown reached the guard first, which records the connection as the server's).
            granian_drop = kind == "granian" and any("1005" in what for what in told)
            allowed = {"server", "client"} if granian_drop else {"server"}
            for record in guarded.records(conn):
                if record["closed_by"] not in allowed:
                    wrong[conn] = record_text([record])
        return wrong

    seen = confirmed(shutdown_results, kind, problem)
    assert not seen[-1], f"every attempt: {seen}"


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_the_guard_adds_no_error_line(kind: str, shutdown_results: Results) -> None:

    def problem(raw: RunResult, guarded: RunResult) -> str:
        if not guarded.errors - raw.errors:
            return ""
        return f"guarded: {errors_text(guarded.errors)}; raw: {errors_text(raw.errors)}"

    seen = confirmed(shutdown_results, kind, problem)
    assert not seen[-1], f"every attempt: {seen}"


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_the_guarded_server_is_gone_no_later_than_raw_plus_half_a_second(
    kind: str, shutdown_results: Results
) -> None:

    def problem(raw: RunResult, guarded: RunResult) -> object:
        return None if exits_in_time(raw, guarded) else (raw.exit_after, guarded.exit_after)

    seen = confirmed(shutdown_results, kind, problem)
    assert not seen[-1], f"(raw, guarded) exit seconds, every attempt: {seen}"
    assert EXIT_MARGIN == 0.5


@pytest.mark.parametrize("kind", [k for k in SERVER_KINDS if k.startswith("uvicorn-")])
def test_each_uvicorn_column_names_the_implementation_it_ran(
    kind: str, shutdown_results: Results
) -> None:
    implementation = made(shutdown_results, kind, "raw").implementation()
    assert implementation.startswith("uvicorn.protocols.websockets."), implementation
    if kind != "uvicorn-websockets":  # the one uvicorn says will change its meaning
        assert kind.removeprefix("uvicorn-").replace("-", "_") + "_impl" in implementation


def test_docs_servers_md_at_shutdown_matches_what_the_servers_did(
    shutdown_results: Results,
) -> None:
    failed = [r.failure for r in shutdown_results.values() if r.failure]
    assert not failed, failed
    renders = [render_section(shutdown_results)]
    page = _page_with(renders[-1])
    diff = stale_diff(page, part="shutdown")
    for _ in range(CONFIRMATIONS):
        if not diff:
            break
        # Look again before calling the section stale (see CONFIRMATIONS).
        again = asyncio.run(observe_runs(shutdown_runs()))
        renders.append(render_section(again))
        diff = stale_diff([_page_with(text) for text in renders], part="shutdown")
    assert not diff, (
        f"docs/servers.md (At shutdown) no longer matches the servers; regenerate it with "
        f"`{REGENERATE} --part shutdown`\n" + diff
    )


def _page_with(section: str) -> str:
    from tests.servers.report import SHUTDOWN_BEGIN, SHUTDOWN_END

    return f"{SHUTDOWN_BEGIN}\n{section.strip()}\n{SHUTDOWN_END}\n"
