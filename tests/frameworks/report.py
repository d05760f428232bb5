"""Render ``docs/frameworks.md`` from what the framework matrix observes.

    python -m tests.frameworks.report           # start the servers, observe, write the file
    python -m tests.frameworks.report --check   # observe and compare; exit 1 with a diff if stale

Every cell is the text :mod:`tests.frameworks.observe` makes of what the python ``websockets``
client saw and the record the guard kept, on uvicorn (``--ws websockets-sansio``) for every
framework and on daphne for Django Channels, with FastAPI behind ``CloseGuardMiddleware`` as
the reference column. ``tests/frameworks/test_matrix.py`` renders the same page from its own
run and fails when the committed file differs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from importlib import metadata

from tests.frameworks.apps import OPTIONS, OWN
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
from tests.servers.report import stale_diff
from tests.support.servers import REPO_ROOT, Server, ServerStartError, run_servers

DOC_PATH = REPO_ROOT / "docs" / "frameworks.md"
REGENERATE = "python -m tests.frameworks.report"
VERSIONS_PREFIX = "Measured with"

#: The reference column: FastAPI behind the plain middleware.
REFERENCE = "fastapi"
UVICORN = "uvicorn-websockets-sansio"
DAPHNE = "daphne"

#: Each server of the matrix and the columns it runs: every framework on uvicorn, and Django
#: Channels (with FastAPI, the reference) on daphne too.
MATRIX: dict[str, tuple[tuple[str, Side], ...]] = {
    UVICORN: COLUMNS,
    DAPHNE: tuple(
        (column, side)
        for column, side in COLUMNS
        if column in (REFERENCE, "channels", "channels-sync")
    ),
}

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

_SETUP = """\
FastAPI and Starlette take the middleware itself: `app.add_middleware(CloseGuardMiddleware)`.

Litestar (`pip install litestar`): serve what `guard()` returns, or use the plugin.

```python
from asgi_closeguard.frameworks.litestar import CloseGuardPlugin, guard

app = guard(Litestar(route_handlers=[...]))
# or
app = Litestar(route_handlers=[...], plugins=[CloseGuardPlugin()])
```

Quart (`pip install quart`): serve what `guard()` returns, or use the extension.

```python
from asgi_closeguard.frameworks.quart import CloseGuard, guard

asgi_app = guard(app)
# or
CloseGuard(app)
```

Falcon (`pip install falcon`), BlackSheep (`pip install blacksheep`) and Django Channels
(`pip install channels`): serve what `guard()` returns.

```python
from asgi_closeguard.frameworks.falcon import guard

asgi_app = guard(falcon.asgi.App())
```

```python
from asgi_closeguard.frameworks.blacksheep import guard

asgi_app = guard(Application())
```

```python
from asgi_closeguard.frameworks.channels import guard

application = guard(ProtocolTypeRouter({"websocket": URLRouter(websocket_urlpatterns)}))
```

Every `guard()`, `CloseGuardPlugin()` and `CloseGuard()` takes `CloseGuardMiddleware`'s keyword
options (`exception_codes`, `on_close`, `strict`, `reraise`, `expose_exception_text`,
`close_timeout`), checked by it. Serve what `guard()` returns; the plugin and the extension
leave the framework's app the object to serve. `import asgi_closeguard` imports no framework;
each adapter imports its framework when it is used, and says which package to install when it
is missing.
"""

_HOW = """\
Each adapter wires the framework's own hook so that the guard sees the handler's exception
before the framework answers it: Litestar's `after_exception` hook, Quart's
`got_websocket_exception` signal, an error handler for `Exception` in Falcon (Falcon lets an
exception that its handler re-raises out of the app), and in BlackSheep, which has no hook for
WebSocket errors, a wrapper around each WebSocket route's handler once the app has started. The
hook hands the exception past the framework's own `except Exception` (its logging and its own
close: Litestar's 4500, Quart's 1000, BlackSheep's 1011 with `str(exc)`) to a thin ASGI layer
under the guard, which raises it there: the guard then answers as for any app, 1011 (or the
mapped code) after accept and HTTP 500 before, and the server logs the traceback once. Served
without that layer, the same app keeps the framework's own behaviour. Django Channels needs no
hook: a consumer's exception already reaches the guard. HTTP is untouched everywhere (Quart's
signal is sent for WebSocket connections only; Falcon's HTTP errors still go to the handler that
was registered before).
"""

_OWN_NOTES = """\
- **The framework's own exceptions stay the framework's.** They are how an app chooses a close,
  so the adapters leave them alone and the record says `closed_by="app"`, as with FastAPI's
  `WebSocketException`: Litestar's `WebSocketException` closes with its code and detail (an
  `HTTPException` below 500, such as `NotAuthorizedException` from a guard, keeps Litestar's
  4500 with its detail, a 403 before accept); Falcon's `HTTPError` and `HTTPStatus` close with
  3000 + the status (`HTTPForbidden`: 3403); Quart's `abort()` and every `HTTPException` go
  through Quart's error handlers as for HTTP, so `abort(403)` after accept closes with Quart's
  1000; Channels' `DenyConnection` is a 403. BlackSheep has no WebSocket exception of its own;
  its `WebSocketDisconnectError` (the client left) stays BlackSheep's.
- **After a handler returns**, Quart and Falcon close with 1000 themselves (Falcon with the
  reason "Normal Closure"); for the others the guard sends 1000.
- **Falcon**: call `guard()` after `add_error_handler(Exception, ...)`, if the app has one: HTTP
  errors go on to it, and a handler for `Exception` added later would replace the adapter's.
- **Litestar's plugin** puts the guard in every route's middleware, so a WebSocket to a path
  with no route never reaches it (Litestar closes it with 4404); `guard(app)` guards those too.
- **Channels** on daphne: the guard falls back as it does for every app there
  ([docs/servers.md](servers.md)): daphne sends only 1000 and 3000-4999 and never the app's
  reason; for an exception the guard re-raises and daphne sends its own 1011.
"""

_SOCKETIO = """\
## python-socketio

`socketio.ASGIApp` runs each event handler in a task of its own: an exception in a handler is
logged by asyncio ("Task exception was never retrieved") and never reaches ASGI; the connection
stays open and the next event is answered. No hook hands it on, so there is no adapter: nothing
the guard could do would turn a handler's exception into a close. Behind
`CloseGuardMiddleware(socketio.ASGIApp(sio))` the guard does for engine.io's WebSocket transport
what it does for any app — engine.io's own closes go out right and one record is kept per
WebSocket connection, with the transport's close and who closed it, never a handler's
exception (the suite checks both: a handler raises, the next event is answered, the client
closes 4001 'bye' and the record says `client 4001 'bye'`, no exception). Report a handler's
errors the Socket.IO way: catch them in the handler and emit an error event, or `disconnect()`
the client.
"""


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


def _names(columns: tuple[tuple[str, Side], ...], side: Side) -> list[str]:
    """The columns of one side, each idiomatic form beside its framework."""
    names = [column for column, found in columns if found == side]
    return sorted(names, key=list(_TITLES).index)


def _guarded_table(observations: Observations, columns: tuple[tuple[str, Side], ...]) -> list[str]:
    names = _names(columns, "guarded")
    numbers = _note_numbers()
    lines = [
        _row(["the handler…", *(_TITLES[name] for name in names)]),
        _row(["---"] * (1 + len(names))),
    ]
    for row in ROWS:
        reference = observations[(REFERENCE, "guarded", row.id)]
        cells = [row.title, reference.text("guarded")]
        for name in names[1:]:
            if not applies(name, row):
                cells.append("—")
                continue
            cell = observations[(name, "guarded", row.id)]
            text = cell.text("guarded")
            found = verdict(name, row, cell, reference)
            if found == "ok":
                cells.append("✓" if text == reference.text("guarded") else text)
            elif found == "deviation":
                cells.append(f"{text} ‡{numbers[(name, row.id)]}")
            else:
                cells.append(f"{text} **✗ differs from FastAPI**")
        lines.append(_row(cells))
    return lines


def _raw_table(observations: Observations, columns: tuple[tuple[str, Side], ...]) -> list[str]:
    names = _names(columns, "raw")
    lines = [
        _row(["the handler…", *(_RAW_TITLES.get(name, _TITLES[name]) for name in names)]),
        _row(["---"] * (1 + len(names))),
    ]
    for row in ROWS:
        cells = [row.title]
        for name in names:
            cells.append(observations[(name, "raw", row.id)].client if applies(name, row) else "—")
        lines.append(_row(cells))
    return lines


_INTRO = f"""\
# Frameworks behind the guard

Litestar, Quart, Falcon and BlackSheep catch a WebSocket handler's exception and close on their
own terms, so `CloseGuardMiddleware` wrapped around them never sees it; Django Channels lets it
through. Each has an adapter in `asgi_closeguard.frameworks` that makes the guard see it. Every
cell below was recorded by the framework matrix in `tests/frameworks/`: one server process
serves every framework's app (`tests/frameworks/apps.py`), raw and behind its adapter with
`exception_codes={{TimeoutError: 1013}}`, the python `websockets` client connects, and the
guard's `on_close` record comes back from the app. This file is generated by
`{REGENERATE}`; `pytest -m server` fails when it no longer matches the frameworks.
"""

_HOW_TO_READ = f"""\
How to read a cell: first what the client saw — an HTTP status for a refused handshake, the
close frame's code and reason (`reply …` is the server's answer to the client's close), "no
close frame (1006)" when the TCP connection ended without one, "left open" when nothing closed
it within {LEFT_OPEN_AFTER:g} s — then the guard's record: who closed, the code and reason on the
wire (or the HTTP status), and the exception the handler raised. ✓: the same as FastAPI's
cell. A cell spelled out without a mark keeps FastAPI's promise in its own words (see below).
The exception's text carries a secret in every row; it reached no client behind an adapter
(the suite checks every close reason and every HTTP body).
"""


def render(uvicorn: Observations, daphne: Observations, *, versions_line: str = "") -> str:
    """The whole of ``docs/frameworks.md``."""
    own_rows = [f"- {_TITLES[name].split('<br>')[0]}: {text}" for name, text in OWN.items() if text]
    notes = [f"- ‡{number} {DEVIATIONS[key][1]}" for key, number in _note_numbers().items()]
    lines = [
        _INTRO,
        versions_line or versions(),
        "",
        "## Setup: one line per framework",
        "",
        _SETUP,
        "## Behind the adapter, on uvicorn",
        "",
        f"uvicorn `--ws websockets-sansio`; the options: `exception_codes="
        f"{{TimeoutError: {OPTIONS['exception_codes'][TimeoutError]}}}`. The first column is "
        "FastAPI behind `CloseGuardMiddleware`: what every other column must show.",
        "",
        *_guarded_table(uvicorn, MATRIX[UVICORN]),
        "",
        _HOW_TO_READ,
        "The framework's own exception, row by row:",
        "",
        *own_rows,
        "",
        "## Django Channels behind the guard, on daphne",
        "",
        *_guarded_table(daphne, MATRIX[DAPHNE]),
        "",
        "## Without the adapter",
        "",
        "The same apps served alone, on uvicorn:",
        "",
        *_raw_table(uvicorn, MATRIX[UVICORN]),
        "",
        "On daphne:",
        "",
        *_raw_table(daphne, MATRIX[DAPHNE]),
        "",
        "## How the adapters work",
        "",
        _HOW,
        "## What the frameworks decide themselves",
        "",
        *notes,
        _OWN_NOTES,
        _SOCKETIO,
        "## Regenerate",
        "",
        f"`{REGENERATE}` starts uvicorn and daphne, runs every row (about 10 s) and rewrites "
        f"this file; `{REGENERATE} --check` only compares.",
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


def main(argv: list[str] | None = None) -> int:
    """Command line: write ``docs/frameworks.md``, or ``--check`` it."""
    parser = argparse.ArgumentParser(prog=f"{REGENERATE}", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    rendered = render(*observe_everything())
    if args.check:
        diff = stale_diff(rendered, DOC_PATH)
        if diff:
            print(diff)
            print(f"\ndocs/frameworks.md is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        print("docs/frameworks.md matches the frameworks")
        return 0
    DOC_PATH.write_text(rendered, encoding="utf-8")
    print(f"wrote {DOC_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
