"""Every claim of ``docs/deploying.md``, checked on real servers.

Each test is cited by name on the page, next to the claim it checks, and
:func:`test_deploying_md_cites_every_claim_test_and_only_those` keeps the two in step. The runs
are :data:`tests.shutdown.deploying.DEPLOY_RUNS` and the main shutdown runs, made once per
session by ``tests/shutdown/conftest.py``; a claim that does not hold is observed again (its
runs made anew) before the test fails, since a heavily loaded machine can delay a server once.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence

import pytest

from asgi_closeguard import describe
from tests.docs.markdown import CITATION
from tests.shutdown.conftest import Results
from tests.shutdown.deploying import DEPLOY_RUNS, STAYS_UP_FOR
from tests.shutdown.expectations import AT_ONCE, close_text
from tests.shutdown.report import main_result
from tests.shutdown.run import Run, RunResult, Side, conn_name, observe_runs
from tests.support.servers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "deploying.md"

pytestmark = [pytest.mark.server, pytest.mark.slow]

#: A claim that does not hold is observed again this many times before the test fails.
CONFIRMATIONS = 2

Runs = dict[str, RunResult]


def claim(results: Results, names: Sequence[str], check: Callable[[Runs], None]) -> None:
    """Run ``check`` on the named runs; if it fails, make them anew and check again.

    A name is a key of :data:`DEPLOY_RUNS`, or ``"<kind>/<side>"`` for a main run.
    """
    runs: dict[str, Run] = {
        name: DEPLOY_RUNS[name] if name in DEPLOY_RUNS else main_result(results, *_split(name)).run
        for name in names
    }
    current = {name: results[run] for name, run in runs.items()}
    failures: list[str] = []
    for attempt in range(1 + CONFIRMATIONS):
        try:
            made = [f"{name}: {r.failure}" for name, r in current.items() if r.failure]
            assert not made, made
            check(current)
            return
        except AssertionError as exc:
            failures.append(f"attempt {attempt + 1}: {exc}")
        if attempt < CONFIRMATIONS:
            again = asyncio.run(observe_runs(list(runs.values())))
            current = {name: again[run] for name, run in runs.items()}
    pytest.fail("\n".join(failures), pytrace=False)


def _split(name: str) -> tuple[str, Side]:
    kind, side = name.rsplit("/", 1)
    assert side in ("raw", "guarded"), name
    return kind, "raw" if side == "raw" else "guarded"


def closes(result: RunResult) -> set[str]:
    """How every client's connection ended (code and reason, or no frame)."""
    return {close_text(end) for end in result.clients.values()}


def times(result: RunResult) -> list[float]:
    """When each client's connection ended, in seconds after the signal."""
    return [end.at for end in result.clients.values() if end.at is not None]


def told(result: RunResult, before: float = float("inf")) -> list[str]:
    """What handlers were told of the shutdown, or how they ended, before ``before`` s after
    the signal (the client's own messages do not count)."""
    return [
        f"{line['conn']}: {line.get('what') or line.get('how')}"
        for line in result.lines
        if line["event"] in ("saw", "ended")
        and line["t"] < before
        and not str(line.get("what")).startswith("message")
    ]


def records(result: RunResult) -> list[tuple[str, int | None, str]]:
    """Every record: (closed_by, code, reason)."""
    return [
        (line["closed_by"], line["code"], line["reason"])
        for line in result.lines
        if line["event"] == "record"
    ]


# --- what clients do with the codes ------------------------------------------------------------


def test_1012_4012_and_1006_bring_clients_back_and_1000_does_not() -> None:
    assert describe(1012).reconnect == "yes"
    assert describe(4012).reconnect == "backoff"
    assert describe(1006).reconnect == "backoff"
    assert describe(1000).reconnect == "no"


# --- uvicorn -----------------------------------------------------------------------------------

_UVICORNS = ("uvicorn-websockets", "uvicorn-websockets-sansio", "uvicorn-wsproto")


def test_uvicorn_closes_with_1012_at_once_and_waits_for_a_handler_that_never_reads(
    shutdown_results: Results,
) -> None:
    def check(runs: Runs) -> None:
        idle = conn_name("python", "plain", "idle")
        for kind in _UVICORNS:
            saw = [line["what"] for line in runs[f"{kind}/raw"].for_conn(idle, "saw")]
            assert saw == ["disconnect 1012"], kind
        result = runs["uvicorn-no-limit"]
        assert closes(result) == {"1012 ''"}
        assert max(times(result)) < AT_ONCE
        assert told(result, before=STAYS_UP_FOR) == []  # the handler never hears of it
        assert result.exit_after is None  # still running STAYS_UP_FOR s after the signal

    claim(shutdown_results, ["uvicorn-no-limit", *(f"{k}/raw" for k in _UVICORNS)], check)


def test_uvicorn_timeout_graceful_shutdown_cancels_what_is_left_and_exits(
    shutdown_results: Results,
) -> None:
    def check(runs: Runs) -> None:
        result = runs["uvicorn-limit"]  # --timeout-graceful-shutdown 1
        assert result.exit_after is not None
        assert 1.0 <= result.exit_after < AT_ONCE, result.exit_after
        assert closes(result) == {"1012 ''"}
        assert max(times(result)) < 1.0  # the clients had uvicorn's 1012 before the limit
        silent = conn_name("python", "plain", "silent")
        assert [line["how"] for line in result.for_conn(silent, "ended")] == ["cancelled"]
        assert sorted(r[:2] for r in records(result)) == [("server", 1012), ("server", 1012)]
        # uvicorn says so itself, at error level, with or without the guard.
        cancelled = "Cancel # running task(s), timeout graceful shutdown exceeded"
        assert list(result.errors) == [cancelled]

    claim(shutdown_results, ["uvicorn-limit"], check)


# --- hypercorn ---------------------------------------------------------------------------------


def test_hypercorn_cancels_at_its_graceful_timeout_and_the_guard_sends_1012(
    shutdown_results: Results,
) -> None:
    def check(runs: Runs) -> None:
        guarded = runs["hypercorn/guarded"]
        assert closes(guarded) == {"1012 'Service Restart'"}
        assert all(3.0 <= at < 4.5 for at in times(guarded)), times(guarded)  # default: 3 s
        assert closes(runs["hypercorn/raw"]) == {"1011 ''"}
        shorter = runs["hypercorn-graceful-1"]  # --graceful-timeout 1
        assert closes(shorter) == {"1012 'Service Restart'"}
        assert all(1.0 <= at < AT_ONCE for at in times(shorter)), times(shorter)

    claim(shutdown_results, ["hypercorn/guarded", "hypercorn/raw", "hypercorn-graceful-1"], check)


def test_hypercorn_signalled_as_a_process_group_drops_everyone_unannounced(
    shutdown_results: Results,
) -> None:
    def check(runs: Runs) -> None:
        result = runs["hypercorn-group"]
        assert closes(result) == {"no close frame (1006)"}
        assert max(times(result)) < AT_ONCE
        assert told(result) == []
        assert records(result) == []
        assert "shutdown" not in result.lifespan()

    claim(shutdown_results, ["hypercorn-group"], check)


# --- daphne ------------------------------------------------------------------------------------


def test_daphne_cancels_at_once_and_the_guard_falls_back_to_4012(
    shutdown_results: Results,
) -> None:
    def check(runs: Runs) -> None:
        guarded = runs["daphne/guarded"]
        assert closes(guarded) == {"4012 ''"}  # daphne sends no reason
        assert max(times(guarded)) < AT_ONCE
        assert {r[:2] for r in records(guarded)} == {("server", 4012)}
        assert closes(runs["daphne/raw"]) == {"no close frame (1006)"}

    claim(shutdown_results, ["daphne/guarded", "daphne/raw"], check)


def test_daphne_with_a_request_in_progress_cancels_nothing(shutdown_results: Results) -> None:
    def check(runs: Runs) -> None:
        for name, result in runs.items():
            assert closes(result) == {"no close frame (1006)"}, name
            assert told(result) == [], name
            assert records(result) == [], name
        # At its default verbosity daphne says nothing about it; at -v 2 Twisted's log does.
        assert not runs["daphne-upload"].errors
        verbose = runs["daphne-upload-v2"].errors
        assert verbose["While calling system event trigger handler"] == 1
        assert verbose["traceback: KeyError"] == 1

    claim(shutdown_results, ["daphne-upload", "daphne-upload-v2"], check)


def test_daphne_started_with_sigint_ignored_ignores_sigint(shutdown_results: Results) -> None:
    def check(runs: Runs) -> None:
        result = runs["daphne-sigint-ignored"]
        assert result.exit_after is None  # still running STAYS_UP_FOR s after SIGINT
        assert closes(result) == {"left open"}
        assert told(result, before=STAYS_UP_FOR) == []

    claim(shutdown_results, ["daphne-sigint-ignored"], check)


# --- granian -----------------------------------------------------------------------------------


def test_granian_drops_every_socket_at_once(shutdown_results: Results) -> None:
    streams = [
        conn_name(client, app, "stream")
        for client in ("python", "chromium")
        for app in ("plain", "fastapi")
    ]
    readers = [
        conn_name(client, app, scenario)
        for client in ("python", "chromium")
        for app in ("plain", "fastapi")
        for scenario in ("idle", "sent")
    ]

    def check(runs: Runs) -> None:
        for result in runs.values():
            assert closes(result) == {"no close frame (1006)"}
            assert max(times(result)) < AT_ONCE
        guarded = runs["granian/guarded"]
        # The streaming handlers are never resumed; the guard records them at the lifespan
        # shutdown, when granian sends it.
        assert all(guarded.for_conn(conn, "ended") == [] for conn in streams)
        if "shutdown" in guarded.lifespan():
            assert all(guarded.records(conn)[0]["closed_by"] == "server" for conn in streams)
        # A handler waiting in receive() is never told, or told 1005 (in some runs): its record
        # then says the client closed, with 1005.
        for conn in readers:
            told_it = [line["what"] for line in guarded.for_conn(conn, "saw")]
            told_it = [what for what in told_it if not what.startswith("message")]
            assert told_it in ([], ["disconnect 1005"], ["WebSocketDisconnect 1005"]), told_it
            if told_it:  # unless the lifespan shutdown reached the guard first
                records = [(r["closed_by"], r["code"]) for r in guarded.records(conn)]
                assert records in ([("client", 1005)], [("server", None)]), (conn, records)

    claim(shutdown_results, ["granian/raw", "granian/guarded"], check)


# --- gunicorn ----------------------------------------------------------------------------------


def test_gunicorn_sigterm_kills_the_worker_at_the_graceful_timeout(
    shutdown_results: Results,
) -> None:
    from gunicorn.config import GracefulTimeout  # type: ignore[import-untyped]

    assert GracefulTimeout.default == 30

    def check(runs: Runs) -> None:
        for name, result in runs.items():  # --graceful-timeout 3
            assert closes(result) == {"no close frame (1006)"}, name
            assert all(3.0 <= at < 4.5 for at in times(result)), (name, times(result))
            assert told(result) == [], name
            assert records(result) == [], name
            assert "shutdown" not in result.lifespan(), name
            assert result.exit_after is not None, name
            assert result.exit_after < 4.5, (name, result.exit_after)

    claim(shutdown_results, ["gunicorn/raw", "gunicorn/guarded"], check)


@pytest.mark.parametrize("signal_name", ["sigquit", "sigint"])
def test_gunicorn_quick_shutdown_cancels_the_handlers_and_the_guard_sends_1012(
    signal_name: str, shutdown_results: Results
) -> None:
    name = f"gunicorn-{signal_name}"  # with the default 30-second --graceful-timeout

    def check(runs: Runs) -> None:
        result = runs[name]
        assert closes(result) == {"1012 'Service Restart'"}
        assert max(times(result)) < AT_ONCE, times(result)
        assert {r[:2] for r in records(result)} == {("server", 1012)}
        assert result.exit_after is not None
        assert result.exit_after < 5.0, result.exit_after  # far from the 30 s it would wait

    claim(shutdown_results, [name], check)


# --- the page ----------------------------------------------------------------------------------


def test_deploying_md_cites_every_claim_test_of_this_module() -> None:
    # That every test the page names exists, anywhere under tests/, and that every paragraph
    # names one, is tests/docs/test_claims.py's check, for this page and the other user docs.
    cited = set(CITATION.findall(DOC.read_text(encoding="utf-8")))
    module = sys.modules[__name__]
    defined = {name for name in dir(module) if name.startswith("test_")}
    defined.discard("test_deploying_md_cites_every_claim_test_of_this_module")
    assert defined - cited == set(), "tests of this module the page does not cite"
