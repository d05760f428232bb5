"""Signal real servers with WebSockets open, and record everything that happens.

A :class:`Run` is one server process: a setup, a side (raw or guarded), the apps and scenarios
it serves, and how it is stopped. :func:`observe_runs` starts every run's server at once, opens
one connection per (app, scenario) from the python client and, where asked, from Chromium,
signals the server, and returns a :class:`RunResult` per run: how each client's connection
ended and when, what each handler saw and how it ended, the guard's records, the lifespan
events, the error lines of the server's log, and when the server and its workers were gone.

Runs that share a :attr:`Run.pair` (the raw and guarded runs of one setup) are signalled at the
same moment, so their exit times are measured under the same load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.shutdown.app import APPS_ENV, LOG_ENV, SIDE_ENV
from tests.shutdown.clients import LAST_WORDS, BrowserSockets, ClientEnd, PythonClient
from tests.support.servers import Server, ServerStartError, spawn_server

Side = Literal["raw", "guarded"]
Client = Literal["python", "chromium"]

APP = "tests.shutdown.app:app"
APPS: tuple[str, ...] = ("plain", "fastapi")
SCENARIOS: tuple[str, ...] = ("idle", "stream", "sent")
CLIENTS: tuple[Client, ...] = ("python", "chromium")

#: Bound on a server's start-up (many start at once on a small machine).
STARTUP_TIMEOUT = 40.0
#: How long after the signal the clients and the server are watched. Longer than every
#: server's own shutdown timer in these runs (hypercorn and gunicorn: 3 s).
WATCH_FOR = 7.0


@dataclass(frozen=True)
class Run:
    """One server process, and how it is stopped."""

    kind: str
    side: Side
    apps: tuple[str, ...] = APPS
    scenarios: tuple[str, ...] = SCENARIOS
    browser: bool = True
    extra_args: tuple[str, ...] = ()
    signum: int = signal.SIGTERM
    #: Signal the whole process group instead of the server's PID.
    group: bool = False
    #: Signals the server starts with ignored (as a shell script's background job does).
    ignored_signals: tuple[int, ...] = ()
    #: Seconds the server is watched after the signal.
    watch_for: float = WATCH_FOR
    #: Seconds between the last connection's opening and the signal, at least.
    settle: float = 0.0
    #: Hold an HTTP request open over the signal whose body has not all arrived yet (an upload
    #: in progress): daphne 4.2.3's shutdown hook then fails (see :data:`SETTLE`).
    upload_in_progress: bool = False
    #: Names the runs that are signalled together; ``""``: the setup's main pair.
    variant: str = ""

    @property
    def pair(self) -> tuple[str, str]:
        """Runs with the same pair are signalled at the same moment."""
        return (self.kind, self.variant)

    @property
    def name(self) -> str:
        """``kind[/variant]/side``, for messages."""
        return "/".join(part for part in (self.kind, self.variant, self.side) if part)

    def clients(self) -> tuple[Client, ...]:
        """The clients this run connects."""
        return CLIENTS if self.browser else ("python",)

    def connections(self) -> list[tuple[Client, str, str]]:
        """Every (client, app, scenario) this run opens."""
        return [(c, a, s) for c in self.clients() for a in self.apps for s in self.scenarios]


def conn_name(client: Client, app: str, scenario: str) -> str:
    """The connection's name in the app's log: ``py-plain-idle``, ``cr-fastapi-sent``."""
    return f"{'py' if client == 'python' else 'cr'}-{app}-{scenario}"


@dataclass
class RunResult:
    """Everything one run observed."""

    run: Run
    #: How each (client, app, scenario) connection ended; ``at`` made relative to the signal.
    clients: dict[tuple[Client, str, str], ClientEnd] = field(default_factory=dict)
    #: The app's log lines (see :mod:`tests.shutdown.app`), ``t`` relative to the signal.
    lines: list[dict[str, Any]] = field(default_factory=list)
    #: Seconds from the signal until the server and its workers were gone; ``None``: still
    #: running after ``run.watch_for`` s (then killed).
    exit_after: float | None = None
    #: The error lines the server logged after the signal, normalised (see :func:`error_lines`).
    errors: Counter[str] = field(default_factory=Counter)
    #: The server's whole output, for failure messages.
    output: str = ""
    #: Why the run could not be made (the server did not start, a client never got ready).
    failure: str | None = None
    #: Why the first attempt at this run could not be made, when it had to be made again.
    first_failure: str | None = None

    def for_conn(self, conn: str, event: str) -> list[dict[str, Any]]:
        """The app's ``event`` lines about connection ``conn``."""
        return [line for line in self.lines if line.get("conn") == conn and line["event"] == event]

    def records(self, conn: str) -> list[dict[str, Any]]:
        """The guard's records of connection ``conn``."""
        return self.for_conn(conn, "record")

    def lifespan(self) -> list[str]:
        """The lifespan steps the app was sent, in order."""
        return [line["what"] for line in self.lines if line["event"] == "lifespan"]

    def implementation(self) -> str:
        """The class behind the server's ``send``, as the app reported it ("" if none did)."""
        found = {line["implementation"] for line in self.lines if line["event"] == "connected"}
        return " / ".join(sorted(found))


_ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b[\]:]*\s*(?P<message>.*)")
_NOISE = re.compile(r"0x[0-9a-f]+|\d+")


def error_lines(output: str) -> Counter[str]:
    """The error lines of a server's log, without what changes between runs.

    Counted: lines logged at ERROR or CRITICAL (the message, without timestamp and PID),
    tracebacks (by the exception line that ends them), and the lines asyncio and the
    interpreter print without a level ("Task exception was never retrieved", "Exception
    ignored in ..."). Numbers and addresses are masked, so the same error compares equal.
    """
    found: Counter[str] = Counter()
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = _ERROR_LINE.search(line)
        if match:
            found[_NOISE.sub("#", match["message"].strip())] += 1
        elif line.startswith("Traceback (most recent call last)"):
            found[f"traceback: {_traceback_end(lines, index + 1)}"] += 1
        elif line.startswith(("Task exception was never retrieved", "Exception ignored in")):
            found[_NOISE.sub("#", line.strip())] += 1
    return found


def _traceback_end(lines: list[str], start: int) -> str:
    """The exception type that ends the traceback starting at ``lines[start]``."""
    for line in lines[start:]:
        if line and not line.startswith((" ", "\t")) and not line.startswith("During handling"):
            return line.split(":", 1)[0].strip()
    return "?"


@dataclass
class _Live:
    """A run in progress: its server, its clients, its log file."""

    run: Run
    server: Server
    log_path: Path
    python: dict[tuple[Client, str, str], PythonClient] = field(default_factory=dict)
    browser_names: dict[tuple[Client, str, str], str] = field(default_factory=dict)
    mark: int = 0
    failure: str | None = None
    prepared_at: float = 0.0
    upload: socket.socket | None = None
    #: Filled in once the server was signalled.
    signalled_wall: float | None = None
    ends: dict[tuple[Client, str, str], ClientEnd] = field(default_factory=dict)
    exit_after: float | None = None


def _spawn(run: Run) -> _Live:
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - read after the server is gone
        prefix=f"closeguard-shutdown-{run.kind}-", suffix=".jsonl", delete=False
    )
    log.close()
    env = {LOG_ENV: log.name, SIDE_ENV: run.side, APPS_ENV: ",".join(run.apps)}
    server = spawn_server(
        run.kind,
        APP,
        env=env,
        extra_args=run.extra_args,
        ignored_signals=run.ignored_signals,
    )
    return _Live(run=run, server=server, log_path=Path(log.name))


async def _prepare(live: _Live, sockets: BrowserSockets | None) -> None:
    """Wait for the server, then open every connection and wait for every "ready"."""
    try:
        await asyncio.to_thread(
            live.server.wait_ready, ready_path="/health", timeout=STARTUP_TIMEOUT
        )
    except ServerStartError as exc:
        live.failure = f"{live.run.name} did not start: {exc}"
        return
    if live.run.upload_in_progress:
        live.upload = await asyncio.to_thread(_start_upload, live.server)
    opening = []
    urls: dict[str, str] = {}
    for key in live.run.connections():
        client, app, scenario = key
        url = live.server.ws_url(f"/{app}/{scenario}/{conn_name(client, app, scenario)}")
        if client == "python":
            live.python[key] = PythonClient(url)
            opening.append(live.python[key].open())
        else:
            name = f"{live.run.name}/{conn_name(client, app, scenario)}"
            live.browser_names[key] = name
            urls[name] = url
    results = await asyncio.gather(*opening, return_exceptions=True)
    problems = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    if urls and sockets is not None:
        ready = await sockets.open(urls)
        problems += [f"Chromium {name} never got ready" for name, ok in ready.items() if not ok]
    if problems:
        live.failure = f"{live.run.name}: " + "; ".join(problems)
    live.prepared_at = time.monotonic()


def _start_upload(server: Server) -> socket.socket:
    """A POST whose headers have arrived and whose body never does."""
    sock = socket.create_connection((server.host, server.port), timeout=10)
    sock.sendall(
        f"POST /upload HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n".encode()
        + b"x" * 1000
    )
    return sock


async def _watch_exit(server: Server, signalled: float, limit: float) -> float | None:
    """Seconds from ``signalled`` until the server and its workers are gone (None: not yet)."""
    deadline = signalled + limit
    while time.monotonic() < deadline:
        if await asyncio.to_thread(server.gone):
            return time.monotonic() - signalled
        await asyncio.sleep(0.02)
    return None


async def _signal_pair(lives: list[_Live], sockets: BrowserSockets | None) -> None:
    """Send the last words, signal every server of the pair at once, and watch."""
    await asyncio.gather(
        *(
            client.send_last_words()
            for live in lives
            for (_, _, scenario), client in live.python.items()
            if scenario == "sent"
        )
    )
    if sockets is not None:
        await sockets.send(
            [
                name
                for live in lives
                for (_, _, scenario), name in live.browser_names.items()
                if scenario == "sent"
            ]
        )
    settled = max(live.prepared_at + live.run.settle for live in lives)
    await asyncio.sleep(max(0.0, settled - time.monotonic()))
    for live in lives:
        live.mark = live.server.mark()
    signalled_wall, signalled = time.time(), time.monotonic()
    for live in lives:
        live.server.send_signal(live.run.signum, group=live.run.group)
    watch_for = max(live.run.watch_for for live in lives)
    exits, ends, browser_ends = await asyncio.gather(
        asyncio.gather(
            *(_watch_exit(live.server, signalled, live.run.watch_for) for live in lives)
        ),
        asyncio.gather(
            *(client.end(watch_for) for live in lives for client in live.python.values())
        ),
        (
            sockets.ends([n for live in lives for n in live.browser_names.values()], watch_for)
            if sockets is not None
            else _nothing()
        ),
    )
    python_ends = iter(ends)
    for live, exit_after in zip(lives, exits, strict=True):
        live.signalled_wall = signalled_wall
        live.exit_after = exit_after
        live.ends = {key: _relative(next(python_ends), signalled_wall) for key in live.python}
        for key, name in live.browser_names.items():
            live.ends[key] = _relative(browser_ends[name], signalled_wall)


async def _nothing() -> dict[str, ClientEnd]:
    return {}


def _relative(end: ClientEnd, signalled: float) -> ClientEnd:
    if end.at is None:
        return end
    return ClientEnd(**{**end.__dict__, "at": round(end.at - signalled, 3)})


def _result(live: _Live) -> RunResult:
    """Stop what is left of the run and read what it wrote."""
    live.server.stop(timeout=3.0)
    output = live.server.output()
    result = RunResult(run=live.run, output=output, failure=live.failure)
    signalled = live.signalled_wall
    if live.failure is None and signalled is not None:
        result.clients = live.ends
        result.exit_after = live.exit_after
        result.errors = error_lines(live.server.output(live.mark))
    with contextlib.suppress(OSError):
        for text in live.log_path.read_text(encoding="utf-8").splitlines():
            line = json.loads(text)
            if signalled is not None:
                line["t"] = round(line["t"] - signalled, 3)
            result.lines.append(line)
    for client in live.python.values():
        client.abort()
    if live.upload is not None:
        live.upload.close()
    live.server.close()
    with contextlib.suppress(OSError):
        live.log_path.unlink()
    return result


async def observe_runs(runs: Sequence[Run], *, again: bool = True) -> dict[Run, RunResult]:
    """Start every run's server at once, open its connections, signal it, and report.

    A pair that could not be made (a server that did not start in time, a connection that never
    got ready: a heavily loaded machine does that) is made once more, alone, when ``again``.
    """
    results = await _observe(runs)
    failed = {run.pair for run, result in results.items() if result.failure}
    if again and failed:
        retried = await _observe([run for run in runs if run.pair in failed])
        for run, result in retried.items():
            result.first_failure = results[run].failure
            results[run] = result
    return results


async def _observe(runs: Sequence[Run]) -> dict[Run, RunResult]:
    from tests.support.browser import async_chromium

    lives = [_spawn(run) for run in runs]
    pairs: dict[tuple[str, str], list[_Live]] = {}
    for live in lives:
        pairs.setdefault(live.run.pair, []).append(live)
    try:
        if any(run.browser for run in runs):
            async with async_chromium() as browser:
                await asyncio.gather(*(_pair(group, browser) for group in pairs.values()))
        else:
            await asyncio.gather(*(_pair(group, None) for group in pairs.values()))
    finally:
        results = await asyncio.to_thread(lambda: [_result(live) for live in lives])
    return {result.run: result for result in results}


async def _pair(lives: list[_Live], browser: Any) -> None:
    """Prepare the runs of one pair, then signal them together (one Chromium page for all)."""
    sockets = None
    page = None
    try:
        if browser is not None and any(live.run.browser for live in lives):
            # A blank page, not one the server serves: a page load is one more HTTP request for
            # daphne to forget before the signal (see SETTLE).
            page = await browser.new_page()
            sockets = BrowserSockets(page)
        await asyncio.gather(*(_prepare(live, sockets) for live in lives))
        failed = [live.failure for live in lives if live.failure]
        if failed:
            # The runs of a pair are compared with each other: none is signalled alone.
            for live in lives:
                live.failure = live.failure or f"{live.run.name} not signalled: {failed[0]}"
        else:
            await _signal_pair(lives, sockets)
    finally:
        if page is not None:
            await page.close()


#: daphne 4.2.3 lists every HTTP request, the WebSocket handshakes' too, and forgets a finished
#: one only on its once-a-second sweep. Its shutdown hook reads the app of every listed
#: request, and one without an app (a finished request not yet swept, or one whose body is
#: still arriving) makes the hook fail with a KeyError before it cancels anything: the handlers
#: are never told. Waiting longer than a sweep after the last connection shows what daphne
#: does with only WebSockets open; Run.upload_in_progress shows the other case.
SETTLE: dict[str, float] = {"daphne": 1.5}


def main_runs(kinds: Sequence[str], extra_args: dict[str, tuple[str, ...]]) -> list[Run]:
    """The main runs: raw and guarded for each kind, both apps, every scenario, Chromium too."""
    return [
        Run(
            kind=kind,
            side=side,
            extra_args=extra_args.get(kind, ()),
            settle=SETTLE.get(kind, 0.0),
        )
        for kind in kinds
        for side in ("raw", "guarded")
    ]


__all__ = [
    "APPS",
    "CLIENTS",
    "LAST_WORDS",
    "SCENARIOS",
    "ClientEnd",
    "Run",
    "RunResult",
    "conn_name",
    "error_lines",
    "main_runs",
    "observe_runs",
]
