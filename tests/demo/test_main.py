"""``python -m demo_app``: the command line, and the real thing serving on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import demo_app.__main__ as main_module
from tests.support.servers import HOST, REPO_ROOT, free_port

STARTUP_TIMEOUT = 20.0


def test_defaults_are_loopback_8000_and_auto() -> None:
    args = main_module.parse_args([])
    assert (args.host, args.port, args.ws) == ("127.0.0.1", 8000, "auto")


@pytest.mark.parametrize("ws", main_module.WS_IMPLEMENTATIONS)
def test_main_runs_uvicorn_with_the_chosen_options(
    monkeypatch: pytest.MonkeyPatch, ws: str
) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append((args, kwargs)))
    main_module.main(["--host", "127.0.0.2", "--port", "8123", "--ws", ws])
    assert calls == [(("demo_app.app:app",), {"host": "127.0.0.2", "port": 8123, "ws": ws})]


@pytest.mark.parametrize(
    "argv", [["--ws", "none"], ["--ws", "h11"], ["--port", "eighty"], ["--what"]]
)
def test_bad_arguments_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main_module.parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage: python -m demo_app" in capsys.readouterr().err


@contextlib.contextmanager
def python_m_demo_app(*args: str) -> Iterator[tuple[int, str]]:
    """Run ``python -m demo_app --port <free> *args`` while the block runs; yields the port and
    the path of its log. Start-up is bounded; the process is stopped by its PID."""
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="demo-app-", suffix=".log", delete=False) as log:
        log_path = log.name
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "demo_app", "--port", str(port), *args],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                with open(log_path, encoding="utf-8", errors="replace") as output:
                    pytest.fail(f"python -m demo_app did not start:\n{output.read()}")
            time.sleep(0.1)
        yield port, log_path
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
        os.unlink(log_path)


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", "/api/closes")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@pytest.mark.server
def test_python_m_demo_app_serves_the_page_and_the_guard() -> None:
    with python_m_demo_app("--ws", "wsproto") as (port, log_path):
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200
        assert b'<html lang="en">' in response.read()
        connection.close()
        with (
            pytest.raises(ConnectionClosed) as closed,
            connect(f"ws://{HOST}:{port}/guarded/ws/crash", open_timeout=5) as websocket,
        ):
            websocket.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1011
        with open(log_path, encoding="utf-8") as output:
            banner = output.read()
        assert f"asgi-closeguard demo: http://127.0.0.1:{port}/" in banner
        assert "--ws wsproto" in banner
