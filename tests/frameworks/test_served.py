"""Served as the frameworks serve their apps: ``litestar run`` and ``quart run`` find the
guarded app object (Litestar's guard(app) too, which once was no Litestar app to its CLI), and
a crash after accept reaches the client as 1011."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.servers import HOST, REPO_ROOT, Server, _environment, free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]

BIN = Path(sys.executable).parent


def _serve(command: list[str], port: int) -> Server:
    log = tempfile.NamedTemporaryFile(prefix="closeguard-cli-", suffix=".log", delete=False)  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=_environment(None),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    return Server(
        kind=command[0],
        app=command[2],
        host=HOST,
        port=port,
        pid=process.pid,
        command=command,
        log_path=Path(log.name),
        _process=process,
    )


async def _close_code(url: str) -> int | None:
    async with connect(url, open_timeout=5, close_timeout=3) as websocket:
        try:
            await asyncio.wait_for(websocket.recv(), 5)
        except ConnectionClosed as closed:
            return None if closed.rcvd is None else closed.rcvd.code
    return None


@pytest.mark.parametrize(
    "command",
    [
        ["litestar", "--app", "tests.frameworks.served:guarded", "run"],
        ["litestar", "--app", "tests.frameworks.served:with_plugin", "run"],
        ["quart", "--app", "tests.frameworks.served:quart_app", "run"],
    ],
    ids=["litestar-run-guard", "litestar-run-plugin", "quart-run-extension"],
)
def test_the_frameworks_own_command_serves_the_guarded_app(command: list[str]) -> None:
    port = free_port()
    server = _serve(
        [str(BIN / command[0]), *command[1:], "--host", HOST, "--port", str(port)], port
    )
    try:
        server.wait_ready(timeout=30)
        assert asyncio.run(_close_code(server.ws_url("/crash"))) == 1011, server.output()
    finally:
        server.close()
