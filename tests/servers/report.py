"""Render ``docs/servers.md`` from what the conformance suite observes.

    python -m tests.servers.report           # start the six servers, observe, write the file
    python -m tests.servers.report --check   # observe and compare; exit 1 with a diff if stale

The tables are never typed by hand: every cell is the text :mod:`tests.servers.expectations`
makes of an outcome that :mod:`tests.servers.observe` (python ``websockets`` client) or
:mod:`tests.servers.browser_checks` (Chromium) recorded. ``tests/servers/test_conformance.py``
renders the same page from its own run and fails when the committed file differs.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from tests.servers.browser_checks import BROWSER_CONTRACT, BROWSER_SCENARIOS, BrowserKey
from tests.servers.expectations import (
    CONTRACT,
    DEVIATIONS,
    FALLBACK_NOTES,
    NOTES,
    Expected,
    expected,
    observed,
)
from tests.servers.observe import LEFT_OPEN_AFTER, OPEN_TIMEOUT, SCENARIOS, Outcome, Side, observe
from tests.support.servers import REPO_ROOT, SERVER_KINDS, Server, ServerStartError, run_servers

DOC_PATH = REPO_ROOT / "docs" / "servers.md"
REGENERATE = "python -m tests.servers.report"

#: Lines starting with this name the versions measured; the staleness check ignores them.
VERSIONS_PREFIX = "Measured with"

Observations = Mapping[str, Mapping[tuple[str, Side], Outcome]]
BrowserObservations = Mapping[BrowserKey, str]

_HEADERS = {
    "uvicorn-websockets": "uvicorn<br>`--ws websockets`",
    "uvicorn-websockets-sansio": "uvicorn<br>`--ws websockets-sansio`",
    "uvicorn-wsproto": "uvicorn<br>`--ws wsproto`",
    "hypercorn": "hypercorn",
    "daphne": "daphne",
    "granian": "granian<br>`--interface asgi`",
}


def versions(chromium: str = "") -> str:
    """The versions line: servers, client and browser this machine measured with."""
    names = ["uvicorn", "websockets", "wsproto", "hypercorn", "daphne", "granian", "starlette"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:  # pragma: no cover - all are test dependencies
            found.append(f"{name} (not installed)")
    if chromium:
        found.append(f"Chromium {chromium}")
    return f"{VERSIONS_PREFIX} " + ", ".join(found) + "."


def _cell(text: Expected) -> str:
    parts = [part for part in (text.client, f"app: {text.app}" if text.app else "") if part]
    return "<br>".join(parts).replace("|", "\\|") or "—"


def _note_numbers() -> dict[str, int]:
    return {key: number for number, key in enumerate(NOTES, start=1)}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _guarded_table(observations: Observations) -> list[str]:
    numbers = _note_numbers()
    lines = [
        _row(["scenario", "the contract", *(_HEADERS[kind] for kind in SERVER_KINDS)]),
        _row(["---"] * (2 + len(SERVER_KINDS))),
    ]
    for scenario in SCENARIOS:
        cells = [scenario.title, _cell(CONTRACT[scenario.id])]
        for kind in SERVER_KINDS:
            seen = observed(observations[kind][(scenario.id, "guarded")])
            deviation = DEVIATIONS.get((kind, scenario.id))
            if seen == CONTRACT[scenario.id]:
                cells.append("✓")
                continue
            marker = ""
            if deviation is not None and seen == expected(kind, scenario.id):
                marker = " " + " ".join(f"{_sign(note)}{numbers[note]}" for note in deviation.notes)
            else:
                marker = " **✗ breaks the contract**"
            cells.append(_cell(seen) + marker)
        lines.append(_row(cells))
    return lines


def _raw_table(observations: Observations) -> list[str]:
    lines = [
        _row(["scenario", *(_HEADERS[kind] for kind in SERVER_KINDS)]),
        _row(["---"] * (1 + len(SERVER_KINDS))),
    ]
    for scenario in SCENARIOS:
        cells = [scenario.title]
        for kind in SERVER_KINDS:
            cells.append(_cell(observed(observations[kind][(scenario.id, "raw")])))
        lines.append(_row(cells))
    return lines


def _browser_table(browser: BrowserObservations) -> list[str]:
    lines = [
        _row(["`CloseEvent.code`: raw → guarded", *(_HEADERS[kind] for kind in SERVER_KINDS)]),
        _row(["---"] * (1 + len(SERVER_KINDS))),
    ]
    for scenario in BROWSER_SCENARIOS:
        cells = [f"{scenario.title} (contract: {BROWSER_CONTRACT[scenario.id]})"]
        for kind in SERVER_KINDS:
            raw = browser[(kind, scenario.id, "raw")]
            guarded = browser[(kind, scenario.id, "guarded")]
            mark = "" if guarded == BROWSER_CONTRACT[scenario.id] else " **✗**"
            cells.append(f"{raw} → {guarded}{mark}")
        lines.append(_row(cells))
    return lines


def _sign(note: str) -> str:
    """† for the guard's fallbacks, ‡ for what no middleware can change."""
    return "†" if note in FALLBACK_NOTES else "‡"


def _notes(category: str) -> list[str]:
    numbers = _note_numbers()
    lines: list[str] = []
    for key, text in NOTES.items():
        if (key in FALLBACK_NOTES) != (category == "fallback"):
            continue
        cells = sorted(
            f"{kind} / {scenario}"
            for (kind, scenario), deviation in DEVIATIONS.items()
            if key in deviation.notes
        )
        lines.append(f"- {_sign(key)}{numbers[key]} {text} Cells: {', '.join(cells)}.")
    return lines


_INTRO = f"""\
# The six servers, raw and guarded

What a WebSocket client and the app observe on each server setup, without the guard and behind
`CloseGuardMiddleware` (with `exception_codes={{TimeoutError: 1013}}`). Every cell below was
recorded by the conformance suite in `tests/servers/`: each server runs as a subprocess on
127.0.0.1 serving `tests/servers/apps.py`, the python `websockets` client (and Chromium, for the
browser table) connects, and the app reports what its `receive()` and `send()` did. This file is
generated by `{REGENERATE}`; `pytest -m server` fails when it no longer matches the servers.
"""

_HOW_TO_READ = """\
How to read a cell: the first line is what the client saw — an HTTP status for a refused
handshake ("handshake unanswered": no answer within {open_timeout:g} s, "no HTTP response": the
connection closed without one), else the close frame's code and reason (`reply …` is the
server's answer to the client's own close); "no close frame (1006)" means the TCP connection
ended without one,
"client fails 1002" means the server put an invalid frame on the wire and the client had to
fail the connection, "left open" means nothing closed the socket within {left_open:g} s.
`app:` is what the app observed: the `websocket.disconnect` its next `receive()` returned
("no reason": the key was missing), what a `send()` raised, and whether the server logged the
exception's traceback.
"""

_BEYOND = """\
### Found beyond the tables

- **Chromium and granian: a close with a reason sometimes arrives as 1006.** granian 2.8.7 drops
  the TCP connection as soon as it has written its close frame — inside its handling of
  `websocket.close`, before the client's close frame comes back (RFC 6455 §7.1.1 closes the
  connection after *both* frames). Anything the browser sent meanwhile — a message written
  before the close frame reached it, or its own close reply — lands on a closed socket, the
  kernel answers with a reset, and a reset that reaches Chromium before it has read the close
  frame discards it: `CloseEvent.code` is 1006, `wasClean` false. The reason plays no part; a
  message in flight does: on loopback, from a few closes in a hundred to one in four (the more
  loaded the machine, the more often) with a message in flight, none without;
  `python -m tests.servers.race` measures it. No middleware can fix it: ASGI offers no way to
  send a close frame on granian
  without granian dropping the connection, and holding the app's coroutine open until the
  client's close arrives (tried, bounded in time) changes nothing, because granian has already
  closed the socket by then.
- **daphne always ends with `wasClean == false` in Chromium.** After the closing handshake,
  autobahn (daphne's WebSocket layer) drops a server-side connection with a TCP reset
  (`dropConnection(abort=True)`). The code and reason still arrive; only `wasClean` is wrong.
- **hypercorn: an app that closes and returns at once can race the browser.** hypercorn ends
  the connection when the app's coroutine returns; a message the browser sent before it saw
  the close frame then meets a closed socket, and now and then Chromium reports 1006 or an
  unclean close (with five messages in flight: from 2 to 5 closes in 40 without the guard;
  never with the python client; `python -m tests.servers.race hypercorn`). The guard holds
  the app's coroutine until the client's close frame has arrived, bounded by its
  `close_timeout` (1 s by default), so the closing handshake completes first: in the same
  measurement, guarded, no 1006 and at most one unclean close in 40.
"""


def render(
    observations: Observations, browser: BrowserObservations, *, versions_line: str = ""
) -> str:
    """The whole of ``docs/servers.md``."""
    lines = [_INTRO, versions_line or versions(), ""]
    lines += [
        "## Behind the guard",
        "",
        "✓: exactly what the contract (second column) says. "
        "†: the guard's documented fallback for that server. "
        "‡: the server's own behaviour, which no middleware can change (see below).",
        "",
        *_guarded_table(observations),
        "",
        _HOW_TO_READ.format(left_open=LEFT_OPEN_AFTER, open_timeout=OPEN_TIMEOUT),
        "## Without the guard",
        "",
        *_raw_table(observations),
        "",
        "## In Chromium",
        "",
        f'Debian\'s Chromium, through Playwright; "open": no close event within '
        f"{_browser_timeout():g} s.",
        "",
        *_browser_table(browser),
        "",
        "## Fallbacks: what the guard does where a server refuses",
        "",
        *_notes("fallback"),
        "",
        "## What no middleware can fix, and why",
        "",
        "These decisions happen inside the server's own protocol code, before or after anything "
        "passes through ASGI, so a middleware never sees them:",
        "",
        *_notes("unfixable"),
        "",
        _BEYOND,
        "## Regenerate",
        "",
        f"`{REGENERATE}` starts the six servers, runs every scenario (about 15 s) and rewrites "
        f"this file; `{REGENERATE} --check` only compares.",
        "",
    ]
    return "\n".join(lines)


def _browser_timeout() -> float:
    from tests.servers.browser_checks import BROWSER_LEFT_OPEN_AFTER

    return BROWSER_LEFT_OPEN_AFTER


def comparable(text: str) -> list[str]:
    """The page's lines without the versions line, which changes with every upgrade."""
    return [line for line in text.splitlines() if not line.startswith(VERSIONS_PREFIX)]


def stale_diff(rendered: str | list[str], path: Path = DOC_PATH) -> str:
    """A unified diff from the committed page to what was observed ("" when they agree).

    With several renderings (repeated observations of the same servers), a line of the page
    counts as confirmed when any of them has it in the same place: a cell flips only if it
    flipped every time. Some raw cells hang on a server's own timer (autobahn gives a client
    1 s to answer daphne's close frame), which a heavily loaded machine can miss once; a
    changed server misses every time.
    """
    renders = [rendered] if isinstance(rendered, str) else rendered
    current = comparable(path.read_text(encoding="utf-8")) if path.exists() else []
    candidates = [comparable(text) for text in renders]
    if any(len(lines) == len(current) for lines in candidates):
        shaped = [lines for lines in candidates if len(lines) == len(current)]
        if all(any(lines[i] == line for lines in shaped) for i, line in enumerate(current)):
            return ""
    diff = difflib.unified_diff(
        current,
        candidates[0],
        fromfile=str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path),
        tofile="observed",
        lineterm="",
    )
    return "\n".join(diff)


async def _observe_all(servers: Mapping[str, Server]) -> dict[str, dict[tuple[str, Side], Outcome]]:
    results = await asyncio.gather(*(observe(server) for server in servers.values()))
    return {kind: dict(result) for kind, result in zip(servers, results, strict=True)}


def observe_everything() -> tuple[Observations, BrowserObservations, str]:
    """Start the six servers, run every scenario and the browser checks; stop the servers."""
    from tests.servers.browser_checks import observe_browser
    from tests.support.browser import async_chromium

    async def browser_version() -> str:
        async with async_chromium() as browser:
            return browser.version

    with run_servers(SERVER_KINDS, "tests.servers.apps:app", ready_path="/health") as started:
        failed = {k: v for k, v in started.items() if isinstance(v, ServerStartError)}
        if failed:
            raise SystemExit("\n\n".join(str(error) for error in failed.values()))
        servers = {k: v for k, v in started.items() if isinstance(v, Server)}
        observations = asyncio.run(_observe_all(servers))
        browser = asyncio.run(observe_browser(servers))
    return observations, browser, asyncio.run(browser_version())


def main(argv: list[str] | None = None) -> int:
    """Command line: write ``docs/servers.md``, or ``--check`` it."""
    parser = argparse.ArgumentParser(prog="python -m tests.servers.report", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    observations, browser, chromium = observe_everything()
    rendered = render(observations, browser, versions_line=versions(chromium))
    if args.check:
        diff = stale_diff(rendered)
        if diff:
            print(diff)
            print(f"\ndocs/servers.md is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        print("docs/servers.md matches the servers")
        return 0
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text(rendered, encoding="utf-8")
    print(f"wrote {DOC_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
