"""Load: many concurrent WebSocket clients against a real server running the guard.

Each client tells the handler what to do (see :mod:`tests.robustness.load_app`): a tenth crash
at a random message, a tenth return, a tenth close with a 4xxx code of their own, the rest echo
until the client closes. Every client checks it got the close code its handler called for, and
that no crash's text reached it. All clients of a wave hold their connections open together
before the first message goes, so the server really carries ``--connections`` at once. After each
wave a fresh connection must still echo, and the server's log must hold exactly one traceback
per crash.

Run it::

    python -m tests.robustness.load --connections 1000 --waves 2
    python -m tests.robustness.load --connections 1000 --waves 2 --servers all
    python -m tests.robustness.load --connections 1000 --servers uvicorn-websockets,daphne

``--servers`` takes a comma-separated list of the seven kinds of :mod:`tests.support.servers`, or
``all`` (default: uvicorn with wsproto). It prints one line per wave and exits with status 1 if
any client saw the wrong thing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.robustness.load_app import SECRET
from tests.support.servers import SERVER_KINDS, Server, run_server

__all__ = ["Plan", "WaveReport", "make_plans", "raise_fd_limit", "run_load"]

APP = "tests.robustness.load_app:app"
#: Messages echoed before a handler acts: chosen in ``range(MAX_AT + 1)``.
MAX_AT = 4
TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Plan:
    """What one connection's handler will do, and so what its client must see."""

    mode: str  # "crash", "return", "close" or "echo"
    at: int  # messages echoed before the handler acts (echo: before the client closes)
    code: int | None = None  # the handler's own close code, for mode "close"
    prefix: str = "/ws"  # "/raw": the same handler without the guard

    @property
    def path(self) -> str:
        query = f"mode={self.mode}&at={self.at}"
        if self.code is not None:
            query += f"&code={self.code}"
        return f"{self.prefix}?{query}"

    @property
    def expected_code(self) -> int:
        """The close code the client must receive."""
        if self.mode == "crash":
            return 1011
        if self.mode == "close" and self.code is not None:
            return self.code
        return 1000  # "return": the guard's 1000; "echo": the server's reply to the client's


@dataclass(frozen=True)
class Outcome:
    """What one client saw; ``problem`` is ``None`` when it saw what its plan called for."""

    plan: Plan
    code: int | None
    problem: str | None


@dataclass
class WaveReport:
    """One wave's figures."""

    server: str
    wave: int
    connections: int
    seconds: float = 0.0
    peak_open: int = 0
    modes: Counter[str] = field(default_factory=Counter)
    codes: Counter[int | None] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    tracebacks: int = 0
    crashes: int = 0
    still_echoes: bool = False
    server_alive: bool = False

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and self.tracebacks == self.crashes
            and self.still_echoes
            and self.server_alive
        )

    def line(self) -> str:
        own = sum(n for code, n in self.codes.items() if code is not None and 4000 <= code <= 4999)
        others = sorted(
            (code for code in self.codes if code is None or not 4000 <= code <= 4999), key=str
        )
        # None: the client never saw the connection close (it timed out waiting).
        codes = ", ".join([f"{code}: {self.codes[code]}" for code in others] + [f"own 4xxx: {own}"])
        return (
            f"{self.server} wave {self.wave}: {self.connections} connections "
            f"(peak {self.peak_open} open at once) in {self.seconds:.1f} s; "
            f"codes {codes}; wrong {len(self.problems)}; "
            f"tracebacks {self.tracebacks} for {self.crashes} crashes; "
            f"server {'up' if self.server_alive and self.still_echoes else 'DOWN'}"
        )


def make_plans(connections: int, seed: int, prefix: str = "/ws") -> list[Plan]:
    """A tenth crash, a tenth return, a tenth close on their own, the rest echo; shuffled."""
    rng = random.Random(seed)
    tenth = connections // 10
    modes = ["crash"] * tenth + ["return"] * tenth + ["close"] * tenth
    modes += ["echo"] * (connections - len(modes))
    rng.shuffle(modes)
    return [
        Plan(
            mode=mode,
            at=rng.randint(0, MAX_AT) if mode != "echo" else rng.randint(1, MAX_AT),
            code=rng.randint(4000, 4999) if mode == "close" else None,
            prefix=prefix,
        )
        for mode in modes
    ]


def raise_fd_limit(needed: int) -> None:
    """Raise this process's open-file limit to ``needed`` if the hard limit allows it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class _Gate:
    """Holds every client after its handshake until all of the wave are connected."""

    def __init__(self, expected: int, wait: float) -> None:
        self.expected = expected
        self.wait = wait
        self.open = 0
        self.peak = 0
        self.event = asyncio.Event()

    def arrived(self) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)
        if self.open >= self.expected:
            self.event.set()

    def left(self) -> None:
        self.open -= 1

    async def all_connected(self) -> None:
        # A client that never connected must not hold the others forever.
        with contextlib.suppress(asyncio.TimeoutError):  # not yet TimeoutError on 3.10
            await asyncio.wait_for(self.event.wait(), self.wait)


async def _exchange(ws: ClientConnection, plan: Plan) -> str | None:
    for index in range(plan.at):
        await ws.send(f"m{index}")
        echo = await ws.recv()
        if echo != f"m{index}":
            return f"echo {index} was {echo!r}"
    if plan.mode == "echo":
        await ws.close(1000)
        return None
    await ws.send(f"m{plan.at}")
    try:
        extra = await ws.recv()
    except ConnectionClosed:
        return None
    return f"got {extra!r} where a close was due"


async def _session(
    base_url: str, plan: Plan, gate: _Gate, timeout: float
) -> tuple[int | None, str | None]:
    async with connect(
        base_url + plan.path,
        open_timeout=timeout,
        close_timeout=timeout,
        ping_interval=None,
        compression=None,
        proxy=None,
    ) as ws:
        gate.arrived()
        try:
            await gate.all_connected()
            problem = await _exchange(ws, plan)
        finally:
            gate.left()
    code = ws.close_code
    if problem is None and code != plan.expected_code:
        problem = f"close code {code}, expected {plan.expected_code}"
    if problem is None and SECRET in (ws.close_reason or ""):
        problem = "the crash's text reached the client"
    return code, problem


async def _client(base_url: str, plan: Plan, gate: _Gate, timeout: float) -> Outcome:
    code: int | None = None
    problem: str | None
    try:
        code, problem = await asyncio.wait_for(_session(base_url, plan, gate, timeout), timeout)
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        problem = f"{plan.path}: {problem}"
    return Outcome(plan=plan, code=code, problem=problem)


async def _still_echoes(base_url: str, timeout: float) -> bool:
    async def echo() -> bool:
        async with connect(base_url + "/ws?mode=echo&at=1", proxy=None) as ws:
            await ws.send("still there?")
            return await ws.recv() == "still there?"

    try:
        return await asyncio.wait_for(echo(), timeout)
    except Exception:
        return False


async def _wave(server: Server, wave: int, plans: Sequence[Plan], timeout: float) -> WaveReport:
    report = WaveReport(server=server.kind, wave=wave, connections=len(plans))
    base_url = server.ws_url("").rstrip("/")
    log_mark = server.mark()
    gate = _Gate(len(plans), wait=timeout / 2)
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(_client(base_url, plan, gate, timeout) for plan in plans))
    report.seconds = time.perf_counter() - started
    report.peak_open = gate.peak
    for outcome in outcomes:
        report.modes[outcome.plan.mode] += 1
        report.codes[outcome.code] += 1
        if outcome.problem is not None:
            report.problems.append(outcome.problem)
    report.crashes = report.modes["crash"]
    # The server logs each crash's traceback once (the guard re-raises, it does not log).
    for _ in range(50):
        report.tracebacks = server.output(log_mark).count(TRACEBACK)
        if report.tracebacks >= report.crashes:
            break
        await asyncio.sleep(0.1)
    report.still_echoes = await _still_echoes(base_url, timeout)
    report.server_alive = server.alive()
    return report


def run_load(
    kind: str = "uvicorn-wsproto",
    *,
    connections: int = 200,
    waves: int = 2,
    seed: int = 6,
    timeout: float = 60.0,
    guarded: bool = True,
) -> list[WaveReport]:
    """Start server ``kind`` with the load app and run ``waves`` waves against it.

    ``guarded=False`` sends the clients to the same handler without the guard, to show what
    they would see without it.
    """
    raise_fd_limit(2 * connections + 256)
    reports: list[WaveReport] = []
    # uvicorn's own limit on queued connections is 2048; a wave must never exceed it.
    with run_server(kind, APP, ready_path="/", extra_args=_quiet(kind)) as server:
        for wave in range(1, waves + 1):
            plans = make_plans(connections, seed + wave, prefix="/ws" if guarded else "/raw")
            reports.append(asyncio.run(_wave(server, wave, plans, timeout)))
    return reports


def _quiet(kind: str) -> list[str]:
    # One "connection open" line per client is noise; warnings and tracebacks still show.
    return ["--log-level", "warning"] if kind.startswith("uvicorn-") else []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.robustness.load", description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per client")
    parser.add_argument(
        "--unguarded", action="store_true", help="the same handlers without the guard"
    )
    parser.add_argument(
        "--servers",
        default="uvicorn-wsproto",
        help=f"comma-separated server kinds, or all: {','.join(SERVER_KINDS)}",
    )
    args = parser.parse_args(argv)
    failed = False
    kinds = SERVER_KINDS if args.servers == "all" else args.servers.split(",")
    for kind in kinds:
        for report in run_load(
            kind,
            connections=args.connections,
            waves=args.waves,
            seed=args.seed,
            timeout=args.timeout,
            guarded=not args.unguarded,
        ):
            print(report.line(), flush=True)
            for problem in report.problems[:10]:
                print("   ", problem)
            failed = failed or not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
