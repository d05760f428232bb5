"""A rolling deploy behind a real load balancer: the reconnect storm, raw against drained.

Run from the repository root (HAProxy from Debian's packages: ``apt-get install haproxy``)::

    python -m benchmarks.deploy                       # 300 clients, a 5 s spread, 7 setups
    python -m benchmarks.deploy --servers hypercorn --clients 120 --spread 2
    python -m benchmarks.deploy --markdown            # the table of docs/deploying.md

For each server setup, two instances A and B of ``benchmarks.deploy_app`` run behind HAProxy on
127.0.0.1 (round robin, a health check of ``/ready`` every 100 ms). The clients connect through
HAProxy, so about half land on A, and reconnect the moment their connection ends, with no
delay at all: the worst case, as a fleet of clients without jitter behaves. Then A is deployed:

- **raw**: ``SIGTERM`` to A, as an orchestrator stops it;
- **guarded**: ``POST /drain?spread=S`` to A (what a ``preStop`` hook calls), which returns once
  A's connections have all ended; then ``SIGTERM``.

Measured: the close codes A's clients got (``no close frame`` where the TCP connection ended
without one: a browser's 1006), the busiest 100 ms of new handshakes at B against the mean rate
over the spread, how long the drain took, how long A took to exit after the signal, and whether
every client ended up connected again (to B). The suite checks the claims of the table in
``tests/deploy/test_rolling_deploy.py``, with fewer clients.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.support.debian import require
from tests.support.servers import HOST, SERVER_KINDS, Server, free_port, spawn_server

__all__ = ["DeployResult", "busiest", "deploy", "main"]

#: What a client that got no close frame reports (a browser's 1006).
NO_FRAME = "no close frame"
#: The window of "the busiest 100 ms".
WINDOW = 0.1
#: How long clients may take, once A is gone, to be connected again.
RECONNECT_BOUND = 20.0
#: How long an instance may take to exit after SIGTERM (hypercorn waits 3 s, gunicorn 30 s at
#: most for its workers): past this it is stopped by force and the run says so.
EXIT_BOUND = 35.0

HAPROXY_CONFIG = """\
global
    maxconn 8192

defaults
    mode http
    timeout connect 1s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    # A connection refused by a stopped instance is retried on the other one.
    retries 3
    option redispatch

frontend deploy
    bind {host}:{port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 100ms fall 1 rise 1
    server a {host}:{a} check
    server b {host}:{b} check
"""


@dataclass
class DeployResult:
    """What one deploy of instance A did to its clients and to instance B."""

    kind: str
    guarded: bool
    clients: int
    spread: float | None
    #: How many clients were connected to A when it was deployed.
    on_a: int = 0
    #: How A's connections ended, seen by their clients: "1012", "4012", NO_FRAME …
    codes: Counter[str] = field(default_factory=Counter)
    #: New handshakes at B in the busiest 100 ms after the deploy began.
    busiest_100ms: int = 0
    #: The seconds POST /drain took (guarded), from the request to its answer.
    drain_seconds: float | None = None
    #: The seconds from SIGTERM until A and its workers were gone.
    exit_seconds: float | None = None
    #: Clients connected again (to B) once the run stopped watching.
    reconnected: int = 0
    #: Lines A logged from the deploy on that look like errors.
    error_lines: list[str] = field(default_factory=list)

    @property
    def mean_per_window(self) -> float | None:
        """The mean number of A's clients closed per 100 ms over the spread (guarded)."""
        if not self.spread:
            return None
        return self.on_a * WINDOW / self.spread

    @property
    def peak_ratio(self) -> float | None:
        """The busiest 100 ms at B against the mean rate over the spread."""
        mean = self.mean_per_window
        return None if not mean else self.busiest_100ms / mean


def busiest(moments: Sequence[float], window: float = WINDOW) -> int:
    """The most ``moments`` that fall in any one ``window`` of time."""
    ordered = sorted(moments)
    most = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


class Client:
    """One client that reconnects through the load balancer the moment its connection ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.instance: str | None = None  # the instance it is connected to now
        #: (when the handshake completed, the instance it reached), one per connection.
        self.handshakes: list[tuple[float, str]] = []
        #: (the instance, how that connection ended), one per connection that ended.
        self.ends: list[tuple[str, str]] = []
        self.stopping = False
        self._ws: ClientConnection | None = None

    async def run(self) -> None:
        while not self.stopping:
            try:
                async with connect(
                    self.url, open_timeout=5, close_timeout=2, ping_interval=None
                ) as ws:
                    self._ws = ws
                    handshake_at = time.monotonic()
                    instance = str(await ws.recv())
                    self.handshakes.append((handshake_at, instance))
                    self.instance = instance
                    with contextlib.suppress(ConnectionClosed):
                        await ws.wait_closed()
                    self.instance = None
                    if not self.stopping:
                        self.ends.append((instance, _how_it_ended(ws)))
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
                # Refused or cut during the handshake: try again, after a pause short enough
                # to keep the worst case (a client without jitter).
                self.instance = None
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.stopping = True
        if self._ws is not None:
            await self._ws.close()


def _how_it_ended(ws: ClientConnection) -> str:
    frame = ws.protocol.close_rcvd
    if frame is None:
        return NO_FRAME
    return str(frame.code)


@contextlib.contextmanager
def haproxy(a: Server, b: Server) -> Iterator[str]:
    """HAProxy on a free port in front of ``a`` and ``b``; yields the clients' URL."""
    program = require("haproxy")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="closeguard-haproxy-") as directory:
        config = Path(directory) / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(host=HOST, port=port, a=a.port, b=b.port))
        log = (Path(directory) / "haproxy.log").open("wb")
        process = subprocess.Popen(
            [program, "-db", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_port(port, process, Path(directory) / "haproxy.log")
            yield f"ws://{HOST}:{port}/ws"
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            log.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited at start-up:\n{log.read_text()}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"haproxy did not listen on {port} within 10 s:\n{log.read_text()}")


async def deploy(kind: str, *, guarded: bool, clients: int, spread: float) -> DeployResult:
    """Deploy instance A of server ``kind`` behind HAProxy, with ``clients`` connected."""
    app = "benchmarks.deploy_app:" + ("guarded" if guarded else "raw")
    result = DeployResult(kind, guarded, clients, spread if guarded else None)
    a = spawn_server(kind, app, env={"DEPLOY_INSTANCE": "A"})
    b = spawn_server(kind, app, env={"DEPLOY_INSTANCE": "B"})
    try:
        a.wait_ready(ready_path="/ready")
        b.wait_ready(ready_path="/ready")
        with haproxy(a, b) as url:
            await _deploy_behind(url, a, result)
    finally:
        a.close()
        b.close()
    return result


async def _deploy_behind(url: str, a: Server, result: DeployResult) -> None:
    fleet = [Client(url) for _ in range(result.clients)]
    tasks = [asyncio.ensure_future(client.run()) for client in fleet]
    try:
        await _until(lambda: all(client.instance for client in fleet), 30, "every client connected")
        result.on_a = sum(client.instance == "A" for client in fleet)
        mark = a.mark()
        began = time.monotonic()
        if result.guarded:
            result.drain_seconds = await _drain(a, result.spread or 0.0)
        signalled = time.monotonic()
        a.send_signal(signal.SIGTERM)
        exited = await asyncio.to_thread(a.wait_gone, EXIT_BOUND)
        result.exit_seconds = time.monotonic() - signalled if exited else None
        await _until(lambda: all(client.instance == "B" for client in fleet), RECONNECT_BOUND)
        result.reconnected = sum(client.instance == "B" for client in fleet)
        result.codes = Counter(
            how for client in fleet for instance, how in client.ends if instance == "A"
        )
        result.busiest_100ms = busiest(
            [
                at
                for client in fleet
                for at, instance in client.handshakes
                if instance == "B" and at >= began
            ]
        )
        result.error_lines = [
            line for line in a.output(mark).splitlines() if "Traceback" in line or "ERROR" in line
        ]
    finally:
        await asyncio.gather(*(client.stop() for client in fleet), return_exceptions=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _drain(a: Server, spread: float) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=spread + 30) as http:
        response = await http.post(a.http_url(f"/drain?spread={spread}"))
        response.raise_for_status()
    return time.monotonic() - started


async def _until(condition: object, seconds: float, what: str | None = None) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() >= deadline:
            if what is not None:
                raise TimeoutError(f"not reached within {seconds} s: {what}")
            return False
        await asyncio.sleep(0.02)
    return True


# --- The report ------------------------------------------------------------------------------


def describe_codes(codes: Counter[str]) -> str:
    """``1012 (148)``: the codes A's clients got, with how many got each, most common first."""
    return ", ".join(f"{code} ({count})" for code, count in codes.most_common()) or "none"


def markdown(results: Sequence[DeployResult], *, command: str) -> str:
    """The table of docs/deploying.md, with where and when it was measured."""
    lines = [
        "| server | deploy | A's clients got | busiest 100 ms at B | mean per 100 ms over the "
        "spread | drain took | A exited after SIGTERM | reconnected |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append("| " + " | ".join(_row(r)) + " |")
    today = datetime.date.today().isoformat()
    commit = _commit()
    lines.append("")
    lines.append(f"Measured by `{command}` on {today} at commit `{commit}`.")
    return "\n".join(lines)


def _row(r: DeployResult) -> list[str]:
    mean = r.mean_per_window
    return [
        r.kind,
        f"drain {r.spread:g} s, then SIGTERM" if r.guarded else "SIGTERM",
        describe_codes(r.codes),
        str(r.busiest_100ms),
        "—" if mean is None else f"{mean:.1f}",
        "—" if r.drain_seconds is None else f"{r.drain_seconds:.2f} s",
        f"not within {EXIT_BOUND:g} s" if r.exit_seconds is None else f"{r.exit_seconds:.2f} s",
        f"{r.reconnected} of {r.clients}",
    ]


def _summary(r: DeployResult) -> str:
    return (
        f"{r.kind:28} {'guarded' if r.guarded else 'raw':8} on A {r.on_a:4}  "
        f"codes {describe_codes(r.codes):24} busiest {r.busiest_100ms:4}  "
        f"ratio {r.peak_ratio or 0:5.2f}  drain {r.drain_seconds or 0:5.2f} s  "
        f"exit {r.exit_seconds or 0:5.2f} s  reconnected {r.reconnected}"
    )


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.deploy", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--servers", nargs="+", choices=SERVER_KINDS, default=list(SERVER_KINDS))
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--spread", type=float, default=5.0)
    parser.add_argument("--markdown", action="store_true", help="print the docs' table")
    args = parser.parse_args(argv)
    results = []
    for kind in args.servers:
        for guarded in (False, True):
            result = asyncio.run(
                deploy(kind, guarded=guarded, clients=args.clients, spread=args.spread)
            )
            results.append(result)
            if not args.markdown:
                print(_summary(result), flush=True)
    if args.markdown:
        shown = " ".join(
            ["python -m benchmarks.deploy", *(argv if argv is not None else sys.argv[1:])]
        )
        print(markdown(results, command=shown))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
