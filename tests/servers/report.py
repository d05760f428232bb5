"""Render ``docs/servers.md`` from what the conformance and shutdown suites observe.

    python -m tests.servers.report                    # observe everything, write the file
    python -m tests.servers.report --part shutdown    # only the "At shutdown" section
    python -m tests.servers.report --check            # observe and compare; exit 1 if stale

The tables are never typed by hand: every cell is the text :mod:`tests.servers.expectations`
makes of an outcome that :mod:`tests.servers.observe` (python ``websockets`` client) or
:mod:`tests.servers.browser_checks` (Chromium) recorded, and the "At shutdown" section is what
:mod:`tests.shutdown.report` makes of the shutdown runs. ``tests/servers/test_conformance.py``
renders the page from its own run and fails when the committed file differs outside that
section; ``tests/shutdown/test_shutdown.py`` does the same for the section.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
from collections import Counter
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Literal

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

#: Lines starting with this name the versions measured. The line-by-line staleness check
#: ignores them; :func:`changed_versions` compares them (``--check`` fails on a new version).
VERSIONS_PREFIX = "Measured with"
#: The "At shutdown" section sits between these lines; it has a staleness check of its own.
SHUTDOWN_BEGIN = "<!-- At shutdown: generated from tests/shutdown -->"
SHUTDOWN_END = "<!-- end of At shutdown -->"

Part = Literal["conformance", "shutdown"]

#: ``--check`` observes a page that differs this many more times before it calls it stale.
CHECK_CONFIRMATIONS = 2

Observations = Mapping[str, Mapping[tuple[str, Side], Outcome]]
BrowserObservations = Mapping[BrowserKey, str]

_HEADERS = {
    "uvicorn-websockets": "uvicorn<br>`--ws websockets`",
    "uvicorn-websockets-sansio": "uvicorn<br>`--ws websockets-sansio`",
    "uvicorn-wsproto": "uvicorn<br>`--ws wsproto`",
    "hypercorn": "hypercorn",
    "daphne": "daphne",
    "granian": "granian<br>`--interface asgi`",
    "gunicorn": "gunicorn<br>`-k asgi`",
}


def heading(kind: str, implementations: Mapping[str, str] | None = None) -> str:
    """A column heading; uvicorn's also names the implementation its ``--ws`` really ran.

    uvicorn warns that ``--ws websockets`` will soon mean websockets-sansio: the heading then
    changes with it, and the page is stale until it is regenerated.
    """
    found = (implementations or {}).get(kind, "")
    if not kind.startswith("uvicorn-") or found.count(".") < 2:
        return _HEADERS[kind]
    module = found.rsplit(".", 2)[-2]  # "uvicorn.protocols.websockets.wsproto_impl.WSProtocol"
    return f"{_HEADERS[kind]}<br>runs `{module}`"


def versions(chromium: str = "") -> str:
    """The versions line: servers, client and browser this machine measured with."""
    names = [
        "uvicorn",
        "websockets",
        "wsproto",
        "hypercorn",
        "daphne",
        "granian",
        "gunicorn",
        "starlette",
        "fastapi",
    ]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:  # pragma: no cover - all are test dependencies
            found.append(f"{name} (not installed)")
    if chromium:
        found.append(f"Chromium {chromium}")
    return f"{VERSIONS_PREFIX} " + ", ".join(found) + "."


def versions_of(text: str) -> dict[str, str]:
    """``{name: version}`` from every versions line of ``text`` (later lines win)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith(VERSIONS_PREFIX):
            for item in line.removeprefix(VERSIONS_PREFIX).strip().rstrip(".").split(", "):
                name, _, version = item.partition(" ")
                found[name] = version
    return found


def changed_versions(measured: str, now: str) -> list[str]:
    """``name: old -> new`` for every package (or browser) both texts name, whose version changed.

    A page measured with other versions than the ones installed is stale even where no cell
    changed: a new server version may change a cell in a run the check did not make.
    """
    before, after = versions_of(measured), versions_of(now)
    return [
        f"{name}: {before[name]} -> {after[name]}"
        for name in before
        if name in after and before[name] != after[name]
    ]


#: Browser cells that vary from run to run on an unchanged server, measured over repeated runs
#: (``python -m tests.servers.report --repeat-browser N``): ``{key: (values seen, text shown)}``.
#: The page shows the text whichever of the values this run saw, so ``--check`` never fails on
#: them; a value outside the set still makes the page stale.
VARYING_BROWSER: dict[BrowserKey, tuple[frozenset[str], str]] = {
    # daphne ends every connection with a TCP reset, which now and then reaches Chromium before
    # the close frame is read (see _DAPHNE_RESET).
    ("daphne", "crash", "raw"): (frozenset({"1011", "1006"}), "1011, rarely 1006"),
    ("daphne", "crash", "guarded"): (frozenset({"1011", "1006"}), "1011, rarely 1006"),
    ("daphne", "return", "guarded"): (frozenset({"1000", "1006"}), "1000, rarely 1006"),
    ("daphne", "close-1005", "guarded"): (frozenset({"1000", "1006"}), "1000, rarely 1006"),
}

_DAPHNE_RESET = """\
"rarely 1006": daphne ends every connection it closes with a TCP reset (see "Found beyond the
tables"), and now and then the reset reaches Chromium before the close frame is read. Measured:
in none of 30 runs of this table (`python -m tests.servers.report --repeat-browser 30`), in 1 of
480 closes of `python -m tests.servers.race daphne` (two runs of 240), and once in 3 runs of
`--check` on a busier machine. The check accepts either value in these cells
(`test_daphne_ends_every_connection_unclean_in_chromium`).
"""


def browser_cell(browser: BrowserObservations, key: BrowserKey) -> str:
    """The observed ``CloseEvent.code``, or the documented text of a cell known to vary."""
    seen = browser[key]
    values, shown = VARYING_BROWSER.get(key, (frozenset(), ""))
    return shown if seen in values else seen


def _cell(text: Expected) -> str:
    parts = [part for part in (text.client, f"app: {text.app}" if text.app else "") if part]
    return "<br>".join(parts).replace("|", "\\|") or "—"


def _note_numbers() -> dict[str, int]:
    return {key: number for number, key in enumerate(NOTES, start=1)}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _guarded_table(observations: Observations, headings: list[str]) -> list[str]:
    numbers = _note_numbers()
    lines = [
        _row(["scenario", "the contract", *headings]),
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


def _raw_table(observations: Observations, headings: list[str]) -> list[str]:
    lines = [
        _row(["scenario", *headings]),
        _row(["---"] * (1 + len(SERVER_KINDS))),
    ]
    for scenario in SCENARIOS:
        cells = [scenario.title]
        for kind in SERVER_KINDS:
            cells.append(_cell(observed(observations[kind][(scenario.id, "raw")])))
        lines.append(_row(cells))
    return lines


def _browser_table(browser: BrowserObservations, headings: list[str]) -> list[str]:
    lines = [
        _row(["`CloseEvent.code`: raw → guarded", *headings]),
        _row(["---"] * (1 + len(SERVER_KINDS))),
    ]
    for scenario in BROWSER_SCENARIOS:
        cells = [f"{scenario.title} (contract: {BROWSER_CONTRACT[scenario.id]})"]
        for kind in SERVER_KINDS:
            raw = browser_cell(browser, (kind, scenario.id, "raw"))
            guarded_key: BrowserKey = (kind, scenario.id, "guarded")
            guarded = browser_cell(browser, guarded_key)
            documented = guarded_key in VARYING_BROWSER and guarded != browser[guarded_key]
            mark = "" if guarded == BROWSER_CONTRACT[scenario.id] or documented else " **✗**"
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
        lines.append(
            f"- {_sign(key)}{numbers[key]} {text} Cells, each checked as documented by "
            f"`test_guarded_outcome_is_the_contract`: {', '.join(cells)}."
        )
    return lines


_INTRO = f"""\
# The seven servers, raw and guarded

What a WebSocket client and the app observe on each server setup, without the guard and behind
`CloseGuardMiddleware` (with `exception_codes={{TimeoutError: 1013}}`). Every cell below was
recorded by the conformance suite in `tests/servers/`: each server runs as a subprocess on
127.0.0.1 serving `tests/servers/apps.py`, the python `websockets` client (and Chromium, for the
browser table) connects, and the app reports what its `receive()` and `send()` did. This file is
generated by `{REGENERATE}`; `pytest -m server` fails when it no longer matches the servers
(`test_docs_servers_md_matches_what_the_servers_did`) or was measured with other versions than
the ones installed (`test_servers_md_was_measured_with_the_installed_versions`).
The last section, [At shutdown](#at-shutdown), shows what each server does when it is stopped
with connections open.
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

- **Chromium and granian: a close with a reason sometimes arrives as 1006.** granian 2.8 drops
  the TCP connection as soon as it has written its close frame — inside its handling of
  `websocket.close`, before the client's close frame comes back (RFC 6455 §7.1.1 closes the
  connection after *both* frames). Anything the browser sent meanwhile — a message written
  before the close frame reached it, or its own close reply — lands on a closed socket, the
  kernel answers with a reset, and a reset that reaches Chromium before it has read the close
  frame discards it: `CloseEvent.code` is 1006, `wasClean` false. The reason plays no part; a
  message in flight does: on loopback, from a few closes in a hundred to one in four (the more
  loaded the machine, the more often) with a message in flight, none without
  (`test_granian_loses_no_close_frame_without_a_message_in_flight`;
  `python -m tests.servers.race granian` measures it). No middleware can fix it: ASGI offers no
  way to send a close frame on granian without granian dropping the connection, and holding the
  app's coroutine open until the client's close arrives (tried, bounded in time) changes
  nothing, because granian has already closed the socket by then.
- **daphne always ends with `wasClean == false` in Chromium.** After the closing handshake,
  autobahn (daphne's WebSocket layer) drops a server-side connection with a TCP reset
  (`dropConnection(abort=True)`). The code and reason still arrive, except now and then, when the
  reset wins and Chromium reports 1006; only `wasClean` is always wrong
  (`test_daphne_ends_every_connection_unclean_in_chromium`).
- **hypercorn: an app that closes and returns at once can race the browser.** hypercorn ends
  the connection when the app's coroutine returns; a message the browser sent before it saw
  the close frame then meets a closed socket, and Chromium reports an unclean close, or 1006
  (with five messages in flight, without the guard: 5 and 6 unclean closes in 40 in two runs
  on this machine, 21 in 40 in two runs on a busier one; never with the python client;
  `python -m tests.servers.race hypercorn`). The guard holds the app's coroutine until the
  client's close frame has arrived, bounded by its `close_timeout` (1 s by default), so the
  closing handshake completes first: in the same runs, guarded, no 1006 and 1 or 2 unclean
  closes in 40 (`test_behind_the_guard_hypercorn_never_loses_the_close_in_chromium`).
"""


def render(
    observations: Observations,
    browser: BrowserObservations,
    *,
    implementations: Mapping[str, str] | None = None,
    shutdown: str = "",
    versions_line: str = "",
) -> str:
    """The whole of ``docs/servers.md``; ``shutdown`` is the "At shutdown" section's text."""
    headings = [heading(kind, implementations) for kind in SERVER_KINDS]
    lines = [_INTRO, versions_line or versions(), ""]
    lines += [
        "## Behind the guard",
        "",
        "✓: exactly what the contract (second column) says. "
        "†: the guard's documented fallback for that server. "
        "‡: the server's own behaviour, which no middleware can change (see below). "
        "Every cell is checked on every run (`test_guarded_outcome_is_the_contract`).",
        "",
        *_guarded_table(observations, headings),
        "",
        _HOW_TO_READ.format(left_open=LEFT_OPEN_AFTER, open_timeout=OPEN_TIMEOUT),
        "## Without the guard",
        "",
        "What a plain ASGI app gets, observed in the same run "
        "(`test_docs_servers_md_matches_what_the_servers_did`):",
        "",
        *_raw_table(observations, headings),
        "",
        "## In Chromium",
        "",
        f'Debian\'s Chromium, through Playwright; "open": no close event within '
        f"{_browser_timeout():g} s. Behind the guard every cell must read as the contract says "
        f"(`test_close_event_code_in_chromium`).",
        "",
        *_browser_table(browser, headings),
        "",
        _DAPHNE_RESET,
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
        SHUTDOWN_BEGIN,
        shutdown.strip("\n"),
        SHUTDOWN_END,
        "",
        "## Regenerate",
        "",
        f"`{REGENERATE}` starts the seven servers, runs every scenario, then the shutdown runs "
        f"(about 30 s in all) and rewrites this file; `{REGENERATE} --check` only compares, and "
        f"`--part conformance` or `--part shutdown` observes and rewrites one part.",
        "",
    ]
    return "\n".join(lines)


def _browser_timeout() -> float:
    from tests.servers.browser_checks import BROWSER_LEFT_OPEN_AFTER

    return BROWSER_LEFT_OPEN_AFTER


def part_of(text: str, part: Part, *, keep_versions: bool = False) -> list[str]:
    """The page's lines of one part, without its versions line unless ``keep_versions``.

    ``shutdown``: the lines between :data:`SHUTDOWN_BEGIN` and :data:`SHUTDOWN_END`;
    ``conformance``: every other line. The versions are compared on their own
    (:func:`changed_versions`), so that a new version is named as such.
    """
    lines = [
        line for line in text.splitlines() if keep_versions or not line.startswith(VERSIONS_PREFIX)
    ]
    if SHUTDOWN_BEGIN in lines and SHUTDOWN_END in lines:
        begin, end = lines.index(SHUTDOWN_BEGIN), lines.index(SHUTDOWN_END)
        inside, outside = lines[begin + 1 : end], lines[: begin + 1] + lines[end:]
    else:
        inside, outside = [], lines
    return inside if part == "shutdown" else outside


def comparable(text: str) -> list[str]:
    """The page's lines without the versions line, which changes with every upgrade."""
    return part_of(text, "conformance") + part_of(text, "shutdown")


def stale_diff(
    rendered: str | list[str], path: Path = DOC_PATH, *, part: Part | None = None
) -> str:
    """A unified diff from the committed page to what was observed ("" when they agree).

    ``part`` limits the comparison to the conformance tables or to the "At shutdown" section
    (each suite checks its own). With several renderings (repeated observations of the same
    servers), a line of the page counts as confirmed when any of them has it in the same
    place: a cell flips only if it flipped every time. Some raw cells hang on a server's own
    timer (autobahn gives a client 1 s to answer daphne's close frame), which a heavily loaded
    machine can miss once; a changed server misses every time.
    """
    renders = [rendered] if isinstance(rendered, str) else rendered

    def lines_of(text: str) -> list[str]:
        return comparable(text) if part is None else part_of(text, part)

    current = lines_of(path.read_text(encoding="utf-8")) if path.exists() else []
    candidates = [lines_of(text) for text in renders]
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


def current_shutdown_section(path: Path = DOC_PATH) -> str:
    """The "At shutdown" section of the committed page ("" when there is none)."""
    if not path.exists():
        return ""
    return "\n".join(part_of(path.read_text(encoding="utf-8"), "shutdown"))


async def _observe_all(servers: Mapping[str, Server]) -> dict[str, dict[tuple[str, Side], Outcome]]:
    results = await asyncio.gather(*(observe(server) for server in servers.values()))
    return {kind: dict(result) for kind, result in zip(servers, results, strict=True)}


def observe_conformance() -> tuple[Observations, BrowserObservations, dict[str, str], str]:
    """Start the seven servers, run every scenario and the browser checks; stop the servers.

    Returns the observations, the browser's, each server's WebSocket implementation and the
    Chromium version.
    """
    from tests.servers.browser_checks import observe_browser
    from tests.servers.observe import fetch_implementation
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
        implementations = {kind: fetch_implementation(server) for kind, server in servers.items()}
        browser = asyncio.run(observe_browser(servers))
    return observations, browser, implementations, asyncio.run(browser_version())


def repeat_browser(times: int, kinds: list[str]) -> dict[BrowserKey, Counter[str]]:
    """Observe the browser table ``times`` times on ``kinds``: how often each cell read what."""
    from tests.servers.browser_checks import observe_browser

    seen: dict[BrowserKey, Counter[str]] = {}
    with run_servers(kinds, "tests.servers.apps:app", ready_path="/health") as started:
        servers = {k: v for k, v in started.items() if isinstance(v, Server)}
        for _ in range(times):
            for key, value in asyncio.run(observe_browser(servers)).items():
                seen.setdefault(key, Counter())[value] += 1
    return seen


def _print_repeats(seen: Mapping[BrowserKey, Counter[str]]) -> None:
    for key, counts in sorted(seen.items()):
        shown = ", ".join(f"{value}: {n}" for value, n in counts.most_common())
        flag = "  <- varies" if len(counts) > 1 else ""
        print(f"{' / '.join(key):40} {shown}{flag}")


def main(argv: list[str] | None = None) -> int:
    """Command line: write ``docs/servers.md`` (or one part of it), or ``--check`` it."""
    parser = argparse.ArgumentParser(prog="python -m tests.servers.report", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    parser.add_argument(
        "--part", choices=["all", "conformance", "shutdown"], default="all", help="what to observe"
    )
    parser.add_argument(
        "--repeat-browser",
        type=int,
        metavar="N",
        help="observe only the browser table, N times, and print how often each cell read what",
    )
    parser.add_argument("kinds", nargs="*", help="with --repeat-browser: the servers to run")
    args = parser.parse_args(argv)
    if args.repeat_browser:
        _print_repeats(repeat_browser(args.repeat_browser, args.kinds or list(SERVER_KINDS)))
        return 0
    part: Part | None = None if args.part == "all" else args.part
    current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
    renders = [observe_page(args.part, current)]
    if not args.check:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(renders[0], encoding="utf-8")
        print(f"wrote {DOC_PATH.relative_to(REPO_ROOT)}")
        return 0
    changed = changed_versions(_versions_part(current, part), _versions_part(renders[0], part))
    if changed:
        print("measured with other versions than the ones installed:\n  " + "\n  ".join(changed))
        print(f"\ndocs/servers.md is stale: run `{REGENERATE}`", file=sys.stderr)
        return 1
    diff = stale_diff(renders, part=part)
    while diff and len(renders) <= CHECK_CONFIRMATIONS:
        # Look again before calling the page stale: a loaded machine can miss a server's timer
        # once; a changed server misses it every time (see stale_diff).
        renders.append(observe_page(args.part, current))
        diff = stale_diff(renders, part=part)
    if diff:
        print(diff)
        print(f"\ndocs/servers.md is stale: run `{REGENERATE}`", file=sys.stderr)
        return 1
    print("docs/servers.md matches the servers")
    return 0


def observe_page(part: str, current: str) -> str:
    """Observe ``part`` (``all``, ``conformance`` or ``shutdown``) and render the whole page."""
    shutdown = current_shutdown_section()
    if part in ("all", "shutdown"):
        from tests.shutdown.report import observe_and_render

        shutdown = observe_and_render()
    if part in ("all", "conformance"):
        observations, browser, implementations, chromium = observe_conformance()
        return render(
            observations,
            browser,
            implementations=implementations,
            shutdown=shutdown,
            versions_line=versions(chromium),
        )
    return _with_shutdown(current, shutdown)


def _versions_part(text: str, part: Part | None) -> str:
    """The versions lines of ``part`` of a page (of the whole page for ``None``)."""
    if part is None:
        return text
    return "\n".join(part_of(text, part, keep_versions=True))


def _with_shutdown(page: str, shutdown: str) -> str:
    """``page`` with its "At shutdown" section replaced by ``shutdown``."""
    lines = page.splitlines()
    if SHUTDOWN_BEGIN not in lines or SHUTDOWN_END not in lines:
        raise SystemExit("docs/servers.md has no At shutdown markers: regenerate all of it")
    begin, end = lines.index(SHUTDOWN_BEGIN), lines.index(SHUTDOWN_END)
    return "\n".join([*lines[: begin + 1], shutdown.strip("\n"), *lines[end:]]) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
