"""Start a real ASGI server as a subprocess on 127.0.0.1, for tests.

The one entry point is :func:`run_server`::

    from tests.support.servers import SERVER_KINDS, run_server

    with run_server("daphne", "tests.servers.apps:guarded") as server:
        url = server.ws_url("/echo")  # ws://127.0.0.1:<port>/echo
        ...
        assert "Traceback" not in server.output()

What it guarantees:

* the server listens on ``127.0.0.1`` on a free port (found by binding port 0);
* start-up is bounded: it polls the server (an HTTP ``GET`` of ``ready_path`` when given,
  else a TCP connect) for at most ``startup_timeout`` seconds and raises
  :class:`ServerStartError` with the server's own output if it died or never answered;
* the server's stdout and stderr go to a temporary file, never a pipe (a pipe nobody reads
  fills up and blocks the server); :meth:`Server.output` reads it, :meth:`Server.mark` and
  ``output(since=...)`` give the part logged by one test;
* the process runs in a session of its own and is stopped by its PID: ``SIGTERM``, a bounded
  wait, then ``SIGKILL`` for the process group it leads (granian, hypercorn and gunicorn run
  their app in a worker process they fork), and a bounded wait until no process of that group
  is left (:meth:`Server.group_pids`);
* the working directory is the repository root and ``PYTHONPATH`` starts with it, so app import
  strings such as ``tests.servers.apps:guarded`` work on every server.

``SERVER_KINDS`` names the seven setups the project supports; :func:`server_command` shows the
exact command line of each. :func:`run_servers` starts several at once (their start-ups
overlap) and :func:`spawn_server` plus :meth:`Server.wait_ready` / :meth:`Server.close` are the
pieces it is made of.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = [
    "HOST",
    "REPO_ROOT",
    "SERVER_KINDS",
    "Server",
    "ServerStartError",
    "free_port",
    "run_server",
    "run_servers",
    "server_command",
    "spawn_server",
]

#: The seven server setups, in the order reports list them.
SERVER_KINDS: tuple[str, ...] = (
    "uvicorn-websockets",
    "uvicorn-websockets-sansio",
    "uvicorn-wsproto",
    "hypercorn",
    "daphne",
    "granian",
    "gunicorn",
)

#: Only loopback: nothing a test starts is reachable from elsewhere.
HOST = "127.0.0.1"

#: The repository root: the servers' working directory and first ``PYTHONPATH`` entry.
REPO_ROOT = Path(__file__).resolve().parents[2]

_STOP_TIMEOUT = 5.0


class ServerStartError(RuntimeError):
    """The server exited, or did not answer within the start-up timeout."""


def free_port(host: str = HOST) -> int:
    """Return a TCP port that was free on ``host`` a moment ago (bind to port 0, then close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(kind: str, app: str, port: int, host: str = HOST) -> list[str]:
    """The command line that serves ASGI app ``app`` ("module:attribute") with server ``kind``.

    Every server is started as ``python -m <server>`` with the interpreter running the tests,
    with its access log off (it only adds noise to :meth:`Server.output`).
    """
    python = sys.executable
    if kind.startswith("uvicorn-"):
        ws = kind.removeprefix("uvicorn-")
        return [
            python, "-m", "uvicorn", app,
            "--host", host, "--port", str(port),
            "--ws", ws,
            "--no-access-log",
            "--lifespan", "on",
            "--log-level", "info",
        ]  # fmt: skip
    if kind == "hypercorn":
        return [
            python, "-m", "hypercorn", app,
            "--bind", f"{host}:{port}",
            "--workers", "1",
            "--worker-class", "asyncio",
            "--log-level", "info",
            "--error-logfile", "-",
        ]  # fmt: skip
    if kind == "daphne":
        return [python, "-m", "daphne", "-b", host, "-p", str(port), "-v", "1", app]
    if kind == "granian":
        return [
            python, "-m", "granian",
            "--interface", "asgi",
            "--host", host, "--port", str(port),
            "--workers", "1",
            "--loop", "asyncio",
            "--no-access-log",
            "--log-level", "info",
            app,
        ]  # fmt: skip
    if kind == "gunicorn":
        # gunicorn 24+ ships its own ASGI worker. One worker, so the app's state is one process's.
        # Without --no-control-socket every gunicorn on the machine would bind the same
        # ~/.gunicorn/gunicorn.ctl; the asyncio loop is pinned so an installed uvloop changes
        # nothing.
        return [
            python, "-m", "gunicorn",
            "--worker-class", "asgi",
            "--workers", "1",
            "--bind", f"{host}:{port}",
            "--asgi-loop", "asyncio",
            "--no-control-socket",
            "--log-level", "info",
            "--error-logfile", "-",
            app,
        ]  # fmt: skip
    raise ValueError(f"unknown server kind {kind!r}; expected one of {SERVER_KINDS}")


@dataclass
class Server:
    """A running server: where it listens and what it printed."""

    kind: str
    app: str
    host: str
    port: int
    pid: int
    command: list[str]
    log_path: Path
    _process: subprocess.Popen[bytes] = field(repr=False)

    def ws_url(self, path: str = "/") -> str:
        """``ws://host:port`` + ``path`` (``path`` may carry a query string)."""
        return f"ws://{self.host}:{self.port}{_slash(path)}"

    def http_url(self, path: str = "/") -> str:
        """``http://host:port`` + ``path``."""
        return f"http://{self.host}:{self.port}{_slash(path)}"

    @property
    def origin(self) -> str:
        """``http://host:port``, for browsers and ``Origin`` headers."""
        return f"http://{self.host}:{self.port}"

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self._process.poll() is None

    def group_pids(self) -> list[int]:
        """The processes of the server's process group that still run (zombies do not count).

        The server leads a process group of its own, and the workers that granian, hypercorn
        and gunicorn fork join it: the server is gone only once this list is empty.
        """
        self._process.poll()  # reap the server itself once it has exited
        return _group_members(self.pid)

    def gone(self) -> bool:
        """Whether the server and every process it forked have exited."""
        return not self.alive() and not self.group_pids()

    def wait_gone(self, timeout: float) -> bool:
        """Poll until :meth:`gone`; ``False`` if something still runs after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self.gone():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def send_signal(self, signum: int, *, group: bool = False) -> None:
        """Send ``signum`` to the server's PID, or with ``group=True`` to its whole process group
        (as systemd's default ``KillMode=control-group`` and a terminal's Ctrl-C do)."""
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.pid, signum)
            else:
                os.kill(self.pid, signum)

    def mark(self) -> int:
        """An offset into the output; pass it to :meth:`output` as ``since``."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:  # pragma: no cover - the file lives as long as the server
            return 0

    def output(self, since: int = 0) -> str:
        """Everything the server wrote to stdout and stderr so far (from offset ``since``)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(since)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:  # pragma: no cover
            return ""

    def wait_for_output(self, text: str, *, since: int = 0, timeout: float = 3.0) -> bool:
        """Poll the output until ``text`` appears after ``since``; ``False`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            if text in self.output(since):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def wait_ready(self, *, ready_path: str | None = None, timeout: float = 20.0) -> None:
        """Poll until the server answers; raise :class:`ServerStartError` after ``timeout`` s.

        With ``ready_path`` an HTTP ``GET`` of that path must get a status below 500; without it a
        TCP connect is enough. A server that exits meanwhile fails at once, with its output.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise ServerStartError(
                    f"{self.kind} exited with status {self._process.returncode} during start-up"
                    f"\ncommand: {' '.join(self.command)}\noutput:\n{self.output()}"
                )
            if _probe(self.host, self.port, ready_path):
                return
            if time.monotonic() >= deadline:
                output = self.output()
                self.stop()
                raise ServerStartError(
                    f"{self.kind} did not answer on {self.host}:{self.port} within {timeout} s"
                    f"\ncommand: {' '.join(self.command)}\noutput:\n{output}"
                )
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the server and delete its log file."""
        self.stop()
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    def stop(self, timeout: float = _STOP_TIMEOUT) -> int | None:
        """Stop the server by its PID: ``SIGTERM``, wait ≤ ``timeout`` s, then ``SIGKILL``.

        Returns the exit status (``None`` if it could not be collected). Safe to call twice.
        """
        proc = self._process
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        # The server leads its own process group (start_new_session): whatever it forked and
        # left behind (granian's, hypercorn's and gunicorn's workers) goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        self.wait_gone(timeout)
        return proc.poll()


def _group_members(pgid: int) -> list[int]:
    """PIDs of the live (not zombie) processes in process group ``pgid``, read from ``/proc``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _slash(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _probe(host: str, port: int, ready_path: str | None) -> bool:
    """One readiness probe: True when the server answered."""
    if ready_path is None:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False
    conn = http.client.HTTPConnection(host, port, timeout=2.0)
    try:
        conn.request("GET", ready_path)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return 200 <= status < 500


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    path = [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    env.update(extra or {})
    return env


def spawn_server(
    kind: str,
    app: str,
    *,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
    port: int | None = None,
    ignored_signals: Sequence[int] = (),
) -> Server:
    """Start server ``kind`` serving ``app`` and return at once, before it is ready.

    Pair it with :meth:`Server.wait_ready` and :meth:`Server.stop` (or use :func:`run_server`,
    which does all three). Starting several servers first and waiting afterwards lets their
    start-ups overlap. ``ignored_signals`` start the server with those signals ignored, the way
    a shell script starts a background job (``server &`` ignores ``SIGINT`` and ``SIGQUIT``).
    """
    port = free_port() if port is None else port
    command = server_command(kind, app, port)
    if extra_args:
        # The app import string stays last for the servers that take it last.
        if command[-1] == app:
            command[-1:-1] = list(extra_args)
        else:
            command.extend(extra_args)
    if ignored_signals:
        # POSIX: a signal ignored when exec is called stays ignored in the new program. `exec`
        # keeps the PID, so the server is still the process this Server stops.
        names = " ".join(
            signal.Signals(signum).name.removeprefix("SIG") for signum in ignored_signals
        )
        command = ["/bin/sh", "-c", f'trap "" {names}; exec "$@"', "sh", *command]
    log_file: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - outlives this function
        prefix=f"closeguard-{kind}-", suffix=".log", delete=False
    )
    log_path = Path(log_file.name)
    try:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log_file.close()  # the child holds its own descriptor
    return Server(
        kind=kind,
        app=app,
        host=HOST,
        port=port,
        pid=process.pid,
        command=command,
        log_path=log_path,
        _process=process,
    )


@contextlib.contextmanager
def run_server(
    kind: str,
    app: str,
    *,
    ready_path: str | None = None,
    startup_timeout: float = 20.0,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
    port: int | None = None,
) -> Iterator[Server]:
    """Serve ``app`` with server ``kind`` on 127.0.0.1 while the ``with`` block runs.

    ``kind``: one of :data:`SERVER_KINDS`. ``app``: an import string, ``"module:attribute"``,
    importable from the repository root. ``ready_path``: an HTTP path the app answers (any status
    below 500 counts as ready); without it a TCP connect counts. ``env``: extra environment
    variables for the server. ``extra_args``: added to the server's command line (before the
    app for granian and daphne, which take it last).

    Raises :class:`ServerStartError` (carrying the server's output) if the server exits or does
    not answer within ``startup_timeout`` seconds. The server is always stopped on exit.
    """
    server = spawn_server(kind, app, env=env, extra_args=extra_args, port=port)
    try:
        server.wait_ready(ready_path=ready_path, timeout=startup_timeout)
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def run_servers(
    kinds: Sequence[str],
    app: str,
    *,
    ready_path: str | None = None,
    startup_timeout: float = 20.0,
    env: dict[str, str] | None = None,
) -> Iterator[dict[str, Server | ServerStartError]]:
    """Serve ``app`` on several servers at once; start-ups overlap.

    Yields ``{kind: Server}``; a kind that failed to start maps to its
    :class:`ServerStartError` instead, so one broken server does not hide the others' results.
    All servers are stopped on exit.
    """
    spawned: dict[str, Server] = {}
    try:
        for kind in kinds:
            spawned[kind] = spawn_server(kind, app, env=env)
        result: dict[str, Server | ServerStartError] = {}
        for kind, server in spawned.items():
            try:
                server.wait_ready(ready_path=ready_path, timeout=startup_timeout)
                result[kind] = server
            except ServerStartError as exc:
                result[kind] = exc
        yield result
    finally:
        for server in spawned.values():
            server.close()
