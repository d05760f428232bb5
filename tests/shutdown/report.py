"""Render the "At shutdown" section of ``docs/servers.md`` from the shutdown runs.

``python -m tests.servers.report --part shutdown`` observes and rewrites it;
``tests/shutdown/test_shutdown.py`` renders it from its own runs and fails when the committed
section differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from tests.servers.report import heading, versions
from tests.shutdown.expectations import (
    AT_ONCE,
    COME_BACK_CODE,
    EXIT_MARGIN,
    GUNICORN_GRACEFUL,
    IN_FLIGHT_RACE,
    MAIN_ARGS,
    NO_RECORDS,
    SHUTDOWN_NOTES,
    chromium_text,
    client_text,
    errors_text,
    exit_text,
    handler_text,
    merged,
    record_text,
    steady,
    was_clean_text,
)
from tests.shutdown.run import (
    APPS,
    SCENARIOS,
    SETTLE,
    Run,
    RunResult,
    Side,
    conn_name,
    main_runs,
)
from tests.support.servers import SERVER_KINDS

Results = Mapping[Run, RunResult]

_SCENARIO_TITLES = {
    "idle": "idle in `receive()`",
    "stream": "streaming every 50 ms, never reads",
    "sent": "the client has just sent a message",
}


def main_result(results: Results, kind: str, side: Side) -> RunResult:
    """The main run of ``kind`` on ``side``."""
    for run, result in results.items():
        if run.kind == kind and run.side == side and not run.variant:
            return result
    raise KeyError(f"no main run of {kind} / {side}")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _headings(results: Results) -> list[str]:
    implementations = {
        kind: main_result(results, kind, "raw").implementation() for kind in SERVER_KINDS
    }
    cells = []
    for kind in SERVER_KINDS:
        cell = heading(kind, implementations)
        if kind == "gunicorn":
            cell += f"<br>`--graceful-timeout {GUNICORN_GRACEFUL}`"
        cells.append(cell)
    return cells


def scenario_cell(result: RunResult, scenario: str) -> str:
    """Everything about one scenario of one run, a line per observer."""
    if result.failure:
        return f"run failed: {result.failure.splitlines()[0]}"
    python = {app: client_text(result.clients[("python", app, scenario)]) for app in APPS}
    lines = [f"client: {merged(python)}"]
    kind = result.run.kind
    if result.run.browser:
        chromium = {
            app: steady(
                kind,
                f"chromium {scenario}",
                chromium_text(result.clients[("chromium", app, scenario)]),
            )
            for app in APPS
        }
        lines.append(f"Chromium: {merged(chromium)}")
    handlers = {}
    for app in APPS:
        conn = conn_name("python", app, scenario)
        text = handler_text(result.for_conn(conn, "saw"), result.for_conn(conn, "ended"))
        handlers[app] = steady(kind, f"app {scenario}", text)
    lines.append(f"app: {merged(handlers)}")
    if result.run.side == "guarded":
        records = {}
        for app in APPS:
            texts = {
                steady(
                    kind,
                    f"record {scenario}",
                    record_text(result.records(conn_name(client, app, scenario))),
                )
                for client in result.run.clients()
            }
            records[app] = " / ".join(sorted(texts))
        lines.append(f"record: {merged(records)}")
    return "<br>".join(lines)


def _table(results: Results, side: Side, headings: list[str]) -> list[str]:
    lines = [_row(["connection", *headings]), _row(["---"] * (1 + len(headings)))]
    runs = [main_result(results, kind, side) for kind in SERVER_KINDS]
    for scenario in SCENARIOS:
        lines.append(
            _row([_SCENARIO_TITLES[scenario], *(scenario_cell(r, scenario) for r in runs)])
        )
    lines.append(
        _row(
            [
                "Chromium's `wasClean`",
                *(
                    steady(
                        r.run.kind,
                        f"wasClean {side}",
                        was_clean_text([e for key, e in r.clients.items() if key[0] == "chromium"]),
                    )
                    for r in runs
                ),
            ]
        )
    )
    lines.append(_row(["error lines in the log", *(errors_text(r.errors) for r in runs)]))
    lines.append(
        _row(
            [
                "server and workers gone",
                *(exit_cell(r) for r in runs),
            ]
        )
    )
    return lines


#: The timer each setup waits out before it exits (hypercorn's default graceful timeout, the
#: runs' gunicorn --graceful-timeout), in whole seconds.
EXIT_TIMERS: dict[str, int] = {"hypercorn": 3, "gunicorn": int(GUNICORN_GRACEFUL)}
#: How late after its timer a loaded machine may see a server gone, and the page still say
#: "after <timer> s": the exit itself takes a moment (hypercorn was seen at 4.0 s).
EXIT_SLACK = 1.5


def exit_cell(result: RunResult) -> str:
    """When the server was gone, in words that do not change when a loaded machine is slower."""
    after, timer = result.exit_after, EXIT_TIMERS.get(result.run.kind)
    if after is not None and timer is not None and timer <= after < timer + EXIT_SLACK:
        return f"after {timer} s"
    return exit_text(after, result.run.watch_for)


def promises(results: Results) -> dict[str, dict[str, bool]]:
    """Each promise of the guard at shutdown, per setup: whether this run kept it.

    The same checks as ``tests/shutdown/test_shutdown.py``, in the form the page shows. The
    exit-time promise is not among them: one run on a loaded machine can miss it by chance,
    so the test observes it again before it fails, and the page shows the times instead.
    """
    table: dict[str, dict[str, bool]] = {}
    for kind in SERVER_KINDS:
        raw, guarded = main_result(results, kind, "raw"), main_result(results, kind, "guarded")
        codes = [end.code for end in guarded.clients.values()]
        table[kind] = {
            "no client gets 1000": 1000 not in codes and bool(codes),
            "every client gets the setup's come-back code": bool(codes)
            and not wrong_codes(guarded),
            "one record per connection where Python still runs": bool(codes)
            and records_as_promised(guarded),
            "adds no error line to the log": not (guarded.errors - raw.errors),
        }
    return table


def wrong_codes(result: RunResult) -> dict[str, str]:
    """The connections whose client did not get the setup's come-back code, and what they got.

    Chromium's socket with a message in flight may read 1006 where the server closes the TCP
    connection too early (:data:`IN_FLIGHT_RACE`); the raw server shows the same.
    """
    kind = result.run.kind
    want = COME_BACK_CODE[kind]
    wrong = {}
    for key, end in result.clients.items():
        client, _, scenario = key
        if want is None:
            right = end.no_frame
        else:
            right = end.code == want or (
                end.no_frame
                and kind in IN_FLIGHT_RACE
                and client == "chromium"
                and scenario == "sent"
            )
        if not right:
            wrong[conn_name(*key)] = client_text(end)
    return wrong


def records_as_promised(result: RunResult) -> bool:
    """One record per connection; none where the server kills the process holding them."""
    expected = 0 if result.run.kind in NO_RECORDS else 1
    return all(len(result.records(conn_name(*key))) == expected for key in result.run.connections())


def exits_in_time(raw: RunResult, guarded: RunResult) -> bool:
    """The guarded server was gone no later than the raw one plus :data:`EXIT_MARGIN`."""
    if raw.exit_after is None or guarded.exit_after is None:
        return raw.exit_after is None and guarded.exit_after is None
    return guarded.exit_after <= raw.exit_after + EXIT_MARGIN


def _promise_table(results: Results, headings: list[str]) -> list[str]:
    table = promises(results)
    names = list(next(iter(table.values())))
    lines = [
        _row(["behind the guard, at `SIGTERM`", *headings]),
        _row(["---"] * (1 + len(headings))),
    ]
    for name in names:
        lines.append(_row([name, *("✓" if table[kind][name] else "✗" for kind in SERVER_KINDS)]))
    return lines


_INTRO = """\
## At shutdown

What clients, apps and the guard see when a server is stopped with WebSockets open: `SIGTERM` to
the server's own PID, as a deploy sends it, with three connections open per app — one whose
handler waits in `receive()`, one whose handler streams a message every 50 ms and never calls
`receive()`, one whose client has just sent a message — for a plain ASGI app and a FastAPI app,
from the python `websockets` client and from Chromium. Each setup runs twice, raw and guarded
(`on_close` writes every record), and both runs are signalled at the same moment. The servers
run with their defaults, except gunicorn, whose 30-second `--graceful-timeout` is cut to
{graceful} (hypercorn's default), and daphne, which runs at `-v 2` so that Twisted's own log
shows, and is signalled {settle:g} s after its last connection opened (see the daphne note).
Times are from the signal; "at once": within {at_once:g} s. Every connection was open when the
signal came (`test_every_connection_was_open_when_the_signal_came`).

A cell holds what the python client saw (`plain: …; FastAPI: …` where the apps differ),
`CloseEvent.code` in Chromium (1006: no close frame), what the handler was told and how it
ended, and the guard's record (`closed_by`, code, reason). How to stop each server so that its
clients come back: [deploying.md](deploying.md). Generated from `tests/shutdown`, which checks
every promise in the first table (`test_no_guarded_client_gets_1000`,
`test_every_guarded_client_gets_the_setups_come_back_code`, `test_one_record_per_connection`,
`test_the_guard_adds_no_error_line`), and that each guarded server is gone no later than the raw
one plus {margin:g} s (`test_the_guarded_server_is_gone_no_later_than_raw_plus_half_a_second`),
and fails when this section no longer matches the servers
(`test_docs_servers_md_at_shutdown_matches_what_the_servers_did`). Cells that vary from run to
run read the same whichever way they went
(`test_known_races_read_the_same_whichever_way_they_went`).
"""

#: The tests that show each note of :data:`SHUTDOWN_NOTES`, cited after it on the page.
NOTE_TESTS: dict[str, tuple[str, ...]] = {
    "daphne-4012": (
        "test_daphne_cancels_at_once_and_the_guard_falls_back_to_4012",
        "test_daphne_with_a_request_in_progress_cancels_nothing",
    ),
    "granian-drops": (
        "test_granian_drops_every_socket_at_once",
        "test_every_record_says_the_server_ended_the_connection",
    ),
    "gunicorn-kills": (
        "test_gunicorn_sigterm_kills_the_worker_at_the_graceful_timeout",
        "test_gunicorn_quick_shutdown_cancels_the_handlers_and_the_guard_sends_1012",
    ),
    "uvicorn-unclean": (
        "test_uvicorn_closes_with_1012_at_once_and_waits_for_a_handler_that_never_reads",
        "test_known_races_read_the_same_whichever_way_they_went",
    ),
    "hypercorn-cancel": (
        "test_hypercorn_cancels_at_its_graceful_timeout_and_the_guard_sends_1012",
        "test_what_hypercorn_and_gunicorn_send_raw",
    ),
}


def _notes() -> list[str]:
    lines = []
    for key, (title, text) in SHUTDOWN_NOTES.items():
        tests = ", ".join(f"`{name}`" for name in NOTE_TESTS.get(key, ()))
        lines.append(f"- **{title}.** {text}" + (f" ({tests})" if tests else ""))
    return lines


def render_section(results: Results) -> str:
    """The "At shutdown" section, from the main runs of every setup."""
    headings = _headings(results)
    lines = [
        _INTRO.format(
            graceful=GUNICORN_GRACEFUL,
            at_once=AT_ONCE,
            settle=SETTLE["daphne"],
            margin=EXIT_MARGIN,
        ),
        versions(),
        "",
        "The guard's promises at shutdown, a row each, checked per setup by the tests named "
        "above (`test_no_guarded_client_gets_1000` and the three after it):",
        "",
        *_promise_table(results, headings),
        "",
        "### Behind the guard, at shutdown",
        "",
        "What every connection saw behind the guard, as this run observed it "
        "(`test_docs_servers_md_at_shutdown_matches_what_the_servers_did`):",
        "",
        *_table(results, "guarded", headings),
        "",
        "### Without the guard, at shutdown",
        "",
        "The same connections without the guard, signalled at the same moment "
        "(`test_what_hypercorn_and_gunicorn_send_raw` for the cells the guard changes most):",
        "",
        *_table(results, "raw", headings),
        "",
        "### Why it is not 1012 everywhere, and other notes",
        "",
        *_notes(),
        "",
    ]
    return "\n".join(lines)


def shutdown_runs() -> list[Run]:
    """The main runs: every setup, raw and guarded."""
    return main_runs(SERVER_KINDS, MAIN_ARGS)


def observe_and_render() -> str:
    """Run the main shutdown runs and render the section."""
    from tests.shutdown.run import observe_runs

    results = asyncio.run(observe_runs(shutdown_runs()))
    failed = [r.failure for r in results.values() if r.failure]
    if failed:
        raise SystemExit("\n\n".join(f for f in failed if f))
    return render_section(results)
