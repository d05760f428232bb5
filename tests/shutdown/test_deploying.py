"""Every claim of ``docs/deploying.md``, checked on real servers.

Each test is cited by name on the page, next to the claim it checks, and
:func:`test_deploying_md_cites_every_claim_test_and_only_those` keeps the two in step. The runs
are :data:`tests.shutdown.deploying.DEPLOY_RUNS` and the main shutdown runs, made once per
session by ``tests/shutdown/conftest.py``.
"""

from __future__ import annotations

import re
import sys

import pytest

import tests.servers.test_launcher as launcher_tests
import tests.shutdown.test_shutdown as shutdown_tests
from asgi_closeguard import describe
from tests.shutdown.conftest import Results, deploy_result
from tests.shutdown.deploying import STAYS_UP_FOR
from tests.shutdown.expectations import AT_ONCE, close_text
from tests.shutdown.report import main_result
from tests.shutdown.run import RunResult, conn_name
from tests.support.servers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "deploying.md"

pytestmark = [pytest.mark.server, pytest.mark.slow]


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


def test_uvicorn_closes_with_1012_at_once_and_waits_for_a_handler_that_never_reads(
    shutdown_results: Results,
) -> None:
    for kind in ("uvicorn-websockets", "uvicorn-websockets-sansio", "uvicorn-wsproto"):
        main = main_result(shutdown_results, kind, "raw")
        idle = conn_name("python", "plain", "idle")
        assert [line["what"] for line in main.for_conn(idle, "saw")] == ["disconnect 1012"]
    result = deploy_result(shutdown_results, "uvicorn-no-limit")
    assert closes(result) == {"1012 ''"}
    assert max(times(result)) < AT_ONCE
    assert told(result, before=STAYS_UP_FOR) == []  # the handler never hears of it
    assert result.exit_after is None  # still running STAYS_UP_FOR s after the signal


def test_uvicorn_timeout_graceful_shutdown_cancels_what_is_left_and_exits(
    shutdown_results: Results,
) -> None:
    result = deploy_result(shutdown_results, "uvicorn-limit")  # --timeout-graceful-shutdown 1
    assert result.exit_after is not None
    assert 1.0 <= result.exit_after < AT_ONCE
    assert closes(result) == {"1012 ''"}
    assert max(times(result)) < 1.0  # the clients had uvicorn's 1012 before the limit
    silent = conn_name("python", "plain", "silent")
    assert [line["how"] for line in result.for_conn(silent, "ended")] == ["cancelled"]
    assert sorted(r[:2] for r in records(result)) == [("server", 1012), ("server", 1012)]
    # uvicorn says so itself, at error level, with or without the guard.
    assert list(result.errors) == ["Cancel # running task(s), timeout graceful shutdown exceeded"]


# --- hypercorn ---------------------------------------------------------------------------------


def test_hypercorn_cancels_at_its_graceful_timeout_and_the_guard_sends_1012(
    shutdown_results: Results,
) -> None:
    main = main_result(shutdown_results, "hypercorn", "guarded")
    assert closes(main) == {"1012 'Service Restart'"}
    assert all(3.0 <= at < 4.5 for at in times(main)), times(main)  # the default: 3 s
    raw = main_result(shutdown_results, "hypercorn", "raw")
    assert closes(raw) == {"1011 ''"}
    shorter = deploy_result(shutdown_results, "hypercorn-graceful-1")  # --graceful-timeout 1
    assert closes(shorter) == {"1012 'Service Restart'"}
    assert all(1.0 <= at < AT_ONCE for at in times(shorter)), times(shorter)


def test_hypercorn_signalled_as_a_process_group_drops_everyone_unannounced(
    shutdown_results: Results,
) -> None:
    result = deploy_result(shutdown_results, "hypercorn-group")
    assert closes(result) == {"no close frame (1006)"}
    assert max(times(result)) < AT_ONCE
    assert told(result) == []
    assert records(result) == []
    assert "shutdown" not in result.lifespan()


# --- daphne ------------------------------------------------------------------------------------


def test_daphne_cancels_at_once_and_the_guard_falls_back_to_4012(
    shutdown_results: Results,
) -> None:
    guarded = main_result(shutdown_results, "daphne", "guarded")
    assert closes(guarded) == {"4012 ''"}  # daphne sends no reason
    assert max(times(guarded)) < AT_ONCE
    assert {r[:2] for r in records(guarded)} == {("server", 4012)}
    raw = main_result(shutdown_results, "daphne", "raw")
    assert closes(raw) == {"no close frame (1006)"}


def test_daphne_with_a_request_in_progress_cancels_nothing(shutdown_results: Results) -> None:
    for name in ("daphne-upload", "daphne-upload-v2"):
        result = deploy_result(shutdown_results, name)
        assert closes(result) == {"no close frame (1006)"}, name
        assert told(result) == [], name
        assert records(result) == [], name
    # At its default verbosity daphne says nothing about it; at -v 2 Twisted's log shows why.
    assert not deploy_result(shutdown_results, "daphne-upload").errors
    verbose = deploy_result(shutdown_results, "daphne-upload-v2").errors
    assert verbose["While calling system event trigger handler"] == 1
    assert verbose["traceback: KeyError"] == 1


def test_daphne_started_with_sigint_ignored_ignores_sigint(shutdown_results: Results) -> None:
    result = deploy_result(shutdown_results, "daphne-sigint-ignored")
    assert result.exit_after is None  # still running STAYS_UP_FOR s after SIGINT
    assert closes(result) == {"left open"}
    assert told(result, before=STAYS_UP_FOR) == []


# --- granian -----------------------------------------------------------------------------------


def test_granian_drops_every_socket_at_once(shutdown_results: Results) -> None:
    for side in ("raw", "guarded"):
        result = main_result(shutdown_results, "granian", side)
        assert closes(result) == {"no close frame (1006)"}
        assert max(times(result)) < AT_ONCE
    streams = [
        conn_name(client, app, "stream")
        for client in ("python", "chromium")
        for app in ("plain", "fastapi")
    ]
    guarded = main_result(shutdown_results, "granian", "guarded")
    # The streaming handlers are never resumed; the guard records them at the lifespan shutdown.
    assert all(guarded.for_conn(conn, "ended") == [] for conn in streams)
    if "shutdown" in guarded.lifespan():
        assert all(guarded.records(conn)[0]["closed_by"] == "server" for conn in streams)


# --- gunicorn ----------------------------------------------------------------------------------


def test_gunicorn_sigterm_kills_the_worker_at_the_graceful_timeout(
    shutdown_results: Results,
) -> None:
    from gunicorn.config import GracefulTimeout

    assert GracefulTimeout.default == 30
    for side in ("raw", "guarded"):
        result = main_result(shutdown_results, "gunicorn", side)  # --graceful-timeout 3
        assert closes(result) == {"no close frame (1006)"}
        assert all(3.0 <= at < 4.5 for at in times(result)), times(result)
        assert told(result) == []
        assert records(result) == []
        assert "shutdown" not in result.lifespan()
        assert result.exit_after is not None
        assert result.exit_after < 4.5


@pytest.mark.parametrize("signal_name", ["sigquit", "sigint"])
def test_gunicorn_quick_shutdown_cancels_the_handlers_and_the_guard_sends_1012(
    signal_name: str, shutdown_results: Results
) -> None:
    result = deploy_result(shutdown_results, f"gunicorn-{signal_name}")  # default 30 s timeout
    assert closes(result) == {"1012 'Service Restart'"}
    assert max(times(result)) < AT_ONCE
    assert {r[:2] for r in records(result)} == {("server", 1012)}
    assert result.exit_after is not None
    assert result.exit_after < AT_ONCE


# --- the page ----------------------------------------------------------------------------------


def test_deploying_md_cites_every_claim_test_and_only_those() -> None:
    cited = set(re.findall(r"`(test_[a-z0-9_]+)`", DOC.read_text(encoding="utf-8")))
    module = sys.modules[__name__]
    defined = {name for name in dir(module) if name.startswith("test_")}
    defined.discard("test_deploying_md_cites_every_claim_test_and_only_those")
    elsewhere = {
        name
        for module in (shutdown_tests, launcher_tests)
        for name in dir(module)
        if name.startswith("test_")
    }
    assert cited - defined - elsewhere == set(), "cited on the page, but no such test"
    assert defined - cited == set(), "tests of this module the page does not cite"
