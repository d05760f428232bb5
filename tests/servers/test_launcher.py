"""The server launcher itself: bounded start-up, output on failure, nothing left running."""

from __future__ import annotations

import os
import time

import pytest

from tests.support.servers import ServerStartError, run_server

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


def test_granian_and_its_worker_are_gone_after_the_block() -> None:
    with run_server("granian", "tests.servers.apps:app", ready_path="/health") as server:
        pid = server.pid
        assert server.alive()
        assert "Started worker" in server.output() or server.wait_for_output("worker")
    assert gone(pid)
    # The worker it forked shared its process group: none of the group may remain.
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
