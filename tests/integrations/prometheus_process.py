"""A real Prometheus for the tests: Debian's package, on 127.0.0.1, in a directory of its own.

:func:`run_prometheus` starts ``prometheus`` on a free loopback port with its own
``--storage.tsdb.path`` in a temporary directory and a short scrape interval, waits (bounded)
until it is ready, and stops it by its PID. :class:`Prometheus` asks it things over its HTTP
API. :func:`promtool` runs Debian's ``promtool``. Both programs are installed by
:func:`tests.support.debian.require` when the machine lacks them.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.debian import require
from tests.support.servers import HOST, free_port

#: How often Prometheus scrapes, and evaluates its rules, in the tests.
SCRAPE_INTERVAL = 0.5
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_QUERY_TIMEOUT = 10.0


class PrometheusError(RuntimeError):
    """Prometheus did not start, or answered a query with an error."""


def promtool(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``promtool`` with ``arguments``; its output and status are the caller's to check."""
    program = require("promtool", "prometheus")
    return subprocess.run(
        [program, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class Prometheus:
    """A running Prometheus: where it listens, and its HTTP API."""

    port: int
    directory: Path
    _process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def api(self, path: str, **parameters: str) -> Any:
        """GET ``/api/v1/<path>``: the ``data`` of its answer."""
        query = urllib.parse.urlencode(parameters)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=_QUERY_TIMEOUT) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            answer = json.load(exc)
        if answer.get("status") != "success":
            raise PrometheusError(f"{path} {parameters}: {answer}")
        return answer["data"]

    def query(self, expression: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant vector ``expression`` evaluates to (at ``at``, a Unix time, or now)."""
        parameters = {"query": expression}
        if at is not None:
            parameters["time"] = f"{at:.3f}"
        data = self.api("query", **parameters)
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expression!r} is a {data['resultType']}, not a vector")
        result: list[dict[str, Any]] = data["result"]
        return result

    def last_scrape(self) -> float | None:
        """When the last scrape of the target started (a Unix time), if it was scraped yet."""
        found = self.query("timestamp(up)")
        return float(found[0]["value"][1]) if found else None

    def wait_for_scrape_after(self, moment: float, *, scrapes: int = 1) -> float:
        """Wait (bounded) until ``scrapes`` scrapes have started after ``moment``; return when
        the last of them started."""
        deadline = time.monotonic() + 10 * SCRAPE_INTERVAL * scrapes + 5
        seen: set[float] = set()
        while True:
            scraped = self.last_scrape()
            if scraped is not None and scraped > moment:
                seen.add(scraped)
                if len(seen) >= scrapes:
                    return scraped
            if time.monotonic() >= deadline:
                raise PrometheusError(
                    f"{len(seen)} of {scrapes} scrapes after {moment} within the bound; "
                    f"last scrape {scraped}; log:\n{self.log()}"
                )
            time.sleep(SCRAPE_INTERVAL / 5)

    def log(self) -> str:
        return (self.directory / "prometheus.log").read_text(errors="replace")[-4000:]


def configuration(scrape_configs: str, targets: Sequence[str], rule_files: Sequence[Path]) -> str:
    """A prometheus.yml: the given ``scrape_configs`` YAML (one job), scraping ``targets``
    every :data:`SCRAPE_INTERVAL` seconds, with ``rule_files`` evaluated as often."""
    interval = f"{int(SCRAPE_INTERVAL * 1000)}ms"
    lines = [
        "global:",
        f"  scrape_interval: {interval}",
        f"  scrape_timeout: {interval}",
        f"  evaluation_interval: {interval}",
        "rule_files: " + json.dumps([str(path) for path in rule_files]),
        scrape_configs.rstrip("\n"),
        # JSON is YAML: the target list goes in as it is, under the job's own keys.
        "    static_configs:",
        "      - targets: " + json.dumps(list(targets)),
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def run_prometheus(
    scrape_configs: str, targets: Sequence[str], rule_files: Sequence[Path] = ()
) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` while the ``with`` block runs; stopped by its PID."""
    program = require("prometheus")
    with tempfile.TemporaryDirectory(prefix="closeguard-prometheus-") as name:
        directory = Path(name)
        config = directory / "prometheus.yml"
        config.write_text(configuration(scrape_configs, targets, rule_files))
        checked = promtool("check", "config", str(config))
        if checked.returncode != 0:
            raise PrometheusError(f"promtool check config:\n{checked.stdout}{checked.stderr}")
        port = free_port()
        with (directory / "prometheus.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    program,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address={HOST}:{port}",
                    "--log.level=warn",
                ],
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        prometheus = Prometheus(port, directory, process)
        try:
            _wait_ready(prometheus)
            yield prometheus
        finally:
            _stop(process)


def _wait_ready(prometheus: Prometheus) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if prometheus._process.poll() is not None:
            raise PrometheusError(f"prometheus exited at start-up:\n{prometheus.log()}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as response,
        ):
            if response.status == 200:
                return
        if time.monotonic() >= deadline:
            raise PrometheusError(f"not ready in {_START_TIMEOUT} s:\n{prometheus.log()}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_STOP_TIMEOUT)
