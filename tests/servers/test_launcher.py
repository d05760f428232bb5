"""The server launcher itself: bounded start-up, output on failure, nothing left running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.servers import ServerStartError, run_server, spawn_server

pytestmark = pytest.mark.server


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_server_that_cannot_import_its_app_fails_fast_with_its_output() -> None:
    started = time.monotonic()
    with (
        pytest.raises(ServerStartError, match="no_such_module"),
        run_server("uvicorn-wsproto", "tests.servers.no_such_module:app", startup_timeout=15),
    ):
        pass  # pragma: no cover - never reached
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("kind", ["granian", "gunicorn", "hypercorn"])
def test_the_server_and_its_worker_are_gone_after_the_block(kind: str) -> None:
    with run_server(kind, "tests.servers.apps:app", ready_path="/health") as server:
        pid = server.pid
        assert server.alive()
        # The app runs in a worker the server forked into its own process group.
        assert len(server.group_pids()) >= 2, server.output()
    assert gone(pid)
    # None of the group may still run (a worker whose parent exited first may linger as a
    # zombie until the machine's init reaps it: it runs nothing).
    assert server.group_pids() == []


def test_a_server_started_with_sigint_ignored_keeps_its_pid_and_the_disposition() -> None:
    # The shell that ignores SIGINT for it replaces itself with the server (exec). daphne
    # (Twisted) leaves an ignored SIGINT ignored; uvicorn would install its own handler.
    server = spawn_server("daphne", "tests.servers.apps:app", ignored_signals=[signal.SIGINT])
    try:
        server.wait_ready(ready_path="/health")
        assert server.alive()
        status = Path(f"/proc/{server.pid}/status").read_text()
        mask = next(line for line in status.splitlines() if line.startswith("SigIgn:"))
        assert int(mask.split()[1], 16) & (1 << (signal.SIGINT - 1))
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert argv[1:3] == [b"-m", b"daphne"]
    finally:
        server.close()
    assert server.gone()
