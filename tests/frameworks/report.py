"""Render ``docs/frameworks.md`` from what the framework matrix observes.

    python -m tests.frameworks.report           # start the servers, observe, write the file
    python -m tests.frameworks.report --check   # observe and compare; exit 1 with a diff if stale

Every cell is the text :mod:`tests.frameworks.observe` makes of what the python ``websockets``
client saw and the record the guard kept, on uvicorn (``--ws websockets-sansio``) for every
framework and on daphne for Django Channels, with FastAPI behind ``CloseGuardMiddleware`` as
the reference column. ``tests/frameworks/test_matrix.py`` renders the same page from its own
run and fails when the committed file differs. ``--check`` also fails when the page was
measured with other versions of the servers, the client or the frameworks than the installed
ones; a cell that :data:`VARYING` documents as varying never fails it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from importlib import metadata

from tests.frameworks import prose
from tests.frameworks.apps import OPTIONS, OWN, VARIANTS
from tests.frameworks.clients import TEST_CLIENTS
from tests.frameworks.observe import (
    COLUMNS,
    LEFT_OPEN_AFTER,
    ROWS,
    Observations,
    Outcome,
    Row,
    Side,
    applies,
    observe,
    promised,
)
from tests.servers.report import changed_versions, stale_diff
from tests.support.servers import REPO_ROOT, Server, ServerStartError, run_servers

DOC_PATH = REPO_ROOT / "docs" / "frameworks.md"
REGENERATE = "python -m tests.frameworks.report"
VERSIONS_PREFIX = "Measured with"

#: The reference column: FastAPI behind the plain middleware.
REFERENCE = "fastapi"
UVICORN = "uvicorn-websockets-sansio"
DAPHNE = "daphne"
#: The Channels column of the side-by-side section.
CHANNELS = "channels"

#: Each server of the matrix and the columns it runs: every framework on uvicorn, and Django
#: Channels (with FastAPI, the reference) on daphne too, and with ``reraise=False`` on both.
MATRIX: dict[str, tuple[tuple[str, Side], ...]] = {
    UVICORN: (*COLUMNS, *((name, "guarded") for name in VARIANTS)),
    DAPHNE: (
        *(
            (column, side)
            for column, side in COLUMNS
            if column in (REFERENCE, "channels", "channels-sync")
        ),
        *((name, "guarded") for name in VARIANTS),
    ),
}

#: The columns compared with FastAPI's: every framework's adapter, in every form.
COMPARED = tuple(column for column, side in COLUMNS if side == "guarded" and column != REFERENCE)

_TITLES = {
    "fastapi": "FastAPI<br>(reference)",
    "litestar": "Litestar<br>`guard(app)`",
    "litestar-plugin": "Litestar<br>`CloseGuardPlugin`",
    "quart": "Quart<br>`guard(app)`",
    "quart-extension": "Quart<br>`CloseGuard(app)`",
    "falcon": "Falcon",
    "blacksheep": "BlackSheep",
    "channels": "Channels<br>async, channel layer",
    "channels-sync": "Channels<br>sync, no layer",
}

_RAW_TITLES = {
    "fastapi": "FastAPI",
    "litestar": "Litestar",
    "quart": "Quart",
}

_FRAMEWORK_NAMES = {
    "litestar": "Litestar",
    "quart": "Quart",
    "falcon": "Falcon",
    "blacksheep": "BlackSheep",
    "channels": "Channels",
}

#: Where a framework, behind its adapter, still differs from FastAPI, and why: the test
#: asserts these cells too, so a framework that changes shows up here.
DEVIATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("falcon", "close-1006"): (
        "1011 'Internal Error'<br>record: guard 1011 'Internal Error', ValueError",
        "Falcon refuses reserved codes itself: its `ws.close()` raises `ValueError` for codes "
        "below 1000, 1004-1006 and 1015-1999 (and lets 2000-2999 and 5000 and up through), "
        "before anything reaches the guard. The handler has raised, so the guard closes with "
        "1011 and the record names the `ValueError`; the reason the app gave is lost.",
    ),
}

#: Cells that differ from run to run on the same machine and versions, each with the texts it
#: takes and why: the page shows them all, and ``--check`` accepts any of them. (server,
#: column, side, row id) → (texts, why).
VARYING: dict[tuple[str, str, Side, str], tuple[tuple[str, ...], str]] = {}


def versions() -> str:
    """The versions line: servers, client and frameworks this machine measured with."""
    names = [
        "uvicorn",
        "daphne",
        "websockets",
        "fastapi",
        "litestar",
        "quart",
        "falcon",
        "blacksheep",
        "channels",
        "django",
    ]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:  # pragma: no cover - all are test dependencies
            found.append(f"{name} (not installed)")
    return f"{VERSIONS_PREFIX} " + ", ".join(found) + "."


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _note_numbers() -> dict[tuple[str, str], int]:
    return {key: number for number, key in enumerate(DEVIATIONS, start=1)}


def verdict(column: str, row: Row, cell: Outcome, reference: Outcome) -> str:
    """``ok`` (FastAPI's promise holds), ``deviation`` (documented), or ``broken``."""
    if cell.leaked:
        return "broken"
    if promised(row, cell) == promised(row, reference):
        return "ok"
    documented = DEVIATIONS.get((column, row.id))
    if documented is not None and cell.text("guarded") == documented[0]:
        return "deviation"
    return "broken"


def cell_text(server: str, column: str, side: Side, row: Row, cell: Outcome) -> str:
    """The cell as the page shows it: a documented varying cell as every text it takes."""
    varying = VARYING.get((server, column, side, row.id))
    text = cell.text(side)
    if varying is None or text not in varying[0]:
        return text
    return " or ".join(varying[0]) + " (varies)"


def _names(columns: tuple[tuple[str, Side], ...], side: Side) -> list[str]:
    """The columns of one side that the tables compare, each idiomatic form beside its
    framework."""
    names = [column for column, found in columns if found == side and column in _TITLES]
    return sorted(names, key=list(_TITLES).index)


def _route_row(observations: Observations, names: list[str]) -> list[str]:
    cells = ["the record's `route`"]
    for name in names:
        record = observations[(name, "guarded", "return")].record or {}
        route = record.get("route")
        cells.append(f"`{route}`" if route else "none")
    return cells


def _guarded_table(
    server: str, observations: Observations, columns: tuple[tuple[str, Side], ...]
) -> list[str]:
    names = _names(columns, "guarded")
    numbers = _note_numbers()
    lines = [
        _row(["the handler…", *(_TITLES[name] for name in names)]),
        _row(["---"] * (1 + len(names))),
    ]
    for row in ROWS:
        reference = observations[(REFERENCE, "guarded", row.id)]
        cells = [row.title, cell_text(server, REFERENCE, "guarded", row, reference)]
        for name in names[1:]:
            if not applies(name, row):
                cells.append("—")
                continue
            cell = observations[(name, "guarded", row.id)]
            text = cell_text(server, name, "guarded", row, cell)
            found = verdict(name, row, cell, reference)
            if found == "ok":
                cells.append("✓" if text == cells[1] else text)
            elif found == "deviation":
                cells.append(f"{text} ‡{numbers[(name, row.id)]}")
            else:
                cells.append(f"{text} **✗ differs from FastAPI**")
        lines.append(_row(cells))
    lines.append(_row(_route_row(observations, names)))
    return lines


def _raw_table(
    server: str, observations: Observations, columns: tuple[tuple[str, Side], ...]
) -> list[str]:
    names = _names(columns, "raw")
    lines = [
        _row(["the handler…", *(_RAW_TITLES.get(name, _TITLES[name]) for name in names)]),
        _row(["---"] * (1 + len(names))),
    ]
    for row in ROWS:
        cells = [row.title]
        for name in names:
            if applies(name, row):
                cells.append(
                    cell_text(server, name, "raw", row, observations[(name, "raw", row.id)])
                )
            else:
                cells.append("—")
        lines.append(_row(cells))
    return lines


#: The side-by-side columns: (server, column, side, title).
_SIDE_BY_SIDE: tuple[tuple[str, str, Side, str], ...] = (
    (UVICORN, CHANNELS, "raw", "uvicorn,<br>without the guard"),
    (UVICORN, CHANNELS, "guarded", "uvicorn,<br>`guard(application)`"),
    (DAPHNE, CHANNELS, "raw", "daphne,<br>without the guard"),
    (DAPHNE, CHANNELS, "guarded", "daphne,<br>`guard(application)`"),
    (DAPHNE, "channels-reraise-false", "guarded", "daphne,<br>`reraise=False`"),
)


def _side_by_side(by_server: Mapping[str, Observations]) -> list[str]:
    lines = [
        _row(["the consumer…", *(title for *_, title in _SIDE_BY_SIDE)]),
        _row(["---"] * (1 + len(_SIDE_BY_SIDE))),
    ]
    for row in ROWS:
        cells = [row.title]
        for server, column, side, _ in _SIDE_BY_SIDE:
            cell = by_server[server][(column, side, row.id)]
            cells.append(cell_text(server, column, side, row, cell))
        lines.append(_row(cells))
    return lines


def _tests_table() -> list[str]:
    lines = [
        _row(
            [
                "framework",
                "its test client",
                "a crash after accept:<br>without → behind the guard",
                "a crash before accept:<br>without → behind the guard",
                "the log of the crash:<br>without → behind the guard",
                "the one line a test changes",
            ]
        ),
        _row(["---"] * 6),
    ]
    for framework, row in TEST_CLIENTS.items():
        lines.append(
            _row(
                [
                    _FRAMEWORK_NAMES[framework],
                    row.client,
                    " → ".join(row.after_accept),
                    " → ".join(row.before_accept),
                    " → ".join(row.log),
                    row.change,
                ]
            )
        )
    return lines


def _varying_notes() -> list[str]:
    return [
        f"- {server} / {column} / {row}: {' or '.join(texts)} — {why}"
        for (server, column, _, row), (texts, why) in VARYING.items()
    ]


_INTRO = f"""\
# Frameworks behind the guard

Litestar, Quart, Falcon and BlackSheep catch a WebSocket handler's exception and close on their
own terms, so `CloseGuardMiddleware` wrapped around them never sees it; Django Channels lets it
through. Each has an adapter in `asgi_closeguard.frameworks` that makes the guard see it. Every
cell below was recorded by the framework matrix in `tests/frameworks/`: one server process
serves every framework's app (`tests/frameworks/apps.py`), raw and behind its adapter with
`exception_codes={{TimeoutError: 1013}}`, the python `websockets` client connects, and the
guard's `on_close` record comes back from the app. This file is generated by
`{REGENERATE}`; `pytest -m server` fails when it no longer matches the frameworks, or was
measured with other versions than the ones installed.
"""

_HOW_TO_READ = f"""\
How to read a cell: first what the client saw — an HTTP status for a refused handshake, the
close frame's code and reason (`reply …` is the server's answer to the client's close), "no
close frame (1006)" when the TCP connection ended without one, "left open" when nothing closed
it within {LEFT_OPEN_AFTER:g} s — then the guard's record: who closed, the code and reason on the
wire (or the HTTP status), and the exception the handler raised ("none" when no guard saw the
connection). ✓: the same as FastAPI's cell. A cell spelled out without a mark keeps FastAPI's
promise in its own words (see below). The last row is the record's `route` for `/{{name}}`,
each framework's own template. The exception's text carries a secret in every row; it reached
no client behind an adapter (the suite checks every close reason and every HTTP body).
"""


def render(uvicorn: Observations, daphne: Observations, *, versions_line: str = "") -> str:
    """The whole of ``docs/frameworks.md``."""
    by_server = {UVICORN: uvicorn, DAPHNE: daphne}
    own_rows = [f"- {_TITLES[name].split('<br>')[0]}: {text}" for name, text in OWN.items() if text]
    notes = [f"- ‡{number} {DEVIATIONS[key][1]}" for key, number in _note_numbers().items()]
    varying = _varying_notes()
    lines = [
        _INTRO,
        versions_line or versions(),
        "",
        "## Setup: one form per framework",
        "",
        prose.SETUP,
        "## Behind the adapter, on uvicorn",
        "",
        f"uvicorn `--ws websockets-sansio`; the options: `exception_codes="
        f"{{TimeoutError: {OPTIONS['exception_codes'][TimeoutError]}}}`. The first column is "
        "FastAPI behind `CloseGuardMiddleware`: what every other column must show.",
        "",
        *_guarded_table(UVICORN, uvicorn, MATRIX[UVICORN]),
        "",
        _HOW_TO_READ,
        "The framework's own exception, row by row:",
        "",
        *own_rows,
        "",
        "## Django Channels on uvicorn and on daphne",
        "",
        "The async consumer on the in-memory channel layer, on both servers, without the guard "
        "and behind `guard(application)`, and on daphne with `reraise=False` too. The sync "
        "consumer without a layer keeps the same promise (the suite compares both with "
        "FastAPI's, on both servers).",
        "",
        *_side_by_side(by_server),
        "",
        prose.CHANNELS,
        "## In your tests and logs",
        "",
        prose.TESTS_INTRO,
        *_tests_table(),
        "",
        "## Without the adapter",
        "",
        "The same apps served alone, on uvicorn:",
        "",
        *_raw_table(UVICORN, uvicorn, MATRIX[UVICORN]),
        "",
        "## How the adapters work",
        "",
        prose.HOW,
        "## What the frameworks decide themselves",
        "",
        *notes,
        prose.OWN_NOTES,
        *(["## Cells that vary from run to run", "", *varying, ""] if varying else []),
        prose.SOCKETIO,
        "## Regenerate",
        "",
        f"`{REGENERATE}` starts uvicorn and daphne, runs every row (about 15 s) and rewrites "
        f"this file; `{REGENERATE} --check` only compares, the versions too.",
        "",
    ]
    return "\n".join(lines)


def observe_everything() -> tuple[Observations, Observations]:
    """Start uvicorn and daphne with the matrix's app, observe every cell, stop them."""
    with run_servers(list(MATRIX), "tests.frameworks.apps:app", ready_path="/health") as started:
        failed = [str(error) for error in started.values() if isinstance(error, ServerStartError)]
        if failed:
            raise SystemExit("\n\n".join(failed))
        servers: Mapping[str, Server] = {
            kind: server for kind, server in started.items() if isinstance(server, Server)
        }

        async def both() -> tuple[Observations, Observations]:
            return await asyncio.gather(
                observe(servers[UVICORN], MATRIX[UVICORN]),
                observe(servers[DAPHNE], MATRIX[DAPHNE]),
            )

        return asyncio.run(both())


def stale_versions(page: str, installed: str) -> list[str]:
    """``name: measured -> installed`` for each version that changed since the page was made."""
    return changed_versions(page, installed)


#: How many times ``--check`` observes the matrix before it calls a cell stale: a loaded
#: machine can miss a server's own timer once (see tests.servers.report.stale_diff).
CHECK_RUNS = 2


def main(argv: list[str] | None = None) -> int:
    """Command line: write ``docs/frameworks.md``, or ``--check`` it."""
    parser = argparse.ArgumentParser(prog=f"{REGENERATE}", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        page = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        changed = stale_versions(page, versions())
        if changed:
            print("\n".join(changed))
            print(f"\ndocs/frameworks.md was measured with other versions: run `{REGENERATE}`")
            return 1
        renders = [render(*observe_everything())]
        diff = stale_diff(renders, DOC_PATH)
        while diff and len(renders) < CHECK_RUNS:
            renders.append(render(*observe_everything()))
            diff = stale_diff(renders, DOC_PATH)
        if diff:
            print(diff)
            print(f"\ndocs/frameworks.md is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        print("docs/frameworks.md matches the frameworks")
        return 0
    DOC_PATH.write_text(render(*observe_everything()), encoding="utf-8")
    print(f"wrote {DOC_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
