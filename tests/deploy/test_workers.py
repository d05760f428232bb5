"""A drain that reaches every worker: ``uvicorn --workers 2`` and ``gunicorn -w 2 -k asgi``.

Each worker is a process with its own connections and its own ``Drain``; the recipe of
docs/deploying.md (``tests/deploy/workers_app.py``) starts each worker's drain on ``SIGUSR1``.
The signal goes to the workers exactly as the page says: gunicorn's master forwards ``SIGUSR1``
to every worker; uvicorn's does not handle it (it would stop), so it goes to each worker, the
children of the master running ``spawn_main`` (uvicorn's master has one more child, the
multiprocessing resource tracker, which the signal must not reach).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.servers import Server, spawn_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]

CLIENTS = 24
#: At most this many more, one at a time, until both workers hold connections.
MORE_CLIENTS = 200
SPREAD = 1.0
APP = "tests.deploy.workers_app:app"

#: The command docs/deploying.md gives for each, with the master's PID to fill in.
SIGNAL_THE_WORKERS = {
    "uvicorn-websockets-sansio": "pkill -USR1 -P {pid} -f spawn_main",
    "gunicorn": "kill -USR1 {pid}",
}


async def connect_until_both_workers(server: Server) -> list[tuple[ClientConnection, str]]:
    """CLIENTS connections at once, then more until both workers hold some (the kernel hands
    a shared listening socket's connections to whichever worker accepts first)."""

    async def one() -> tuple[ClientConnection, str]:
        ws = await connect(server.ws_url("/ws"), open_timeout=5, ping_interval=None)
        return ws, str(await ws.recv())

    clients = list(await asyncio.gather(*(one() for _ in range(CLIENTS))))
    for _ in range(MORE_CLIENTS):
        if len({worker for _, worker in clients}) == 2:
            break
        clients.append(await one())
    return clients


async def how_it_ends(ws: ClientConnection) -> int | None:
    with contextlib.suppress(ConnectionClosed):
        await ws.wait_closed()
    frame = ws.protocol.close_rcvd
    return None if frame is None else int(frame.code)


async def drain_every_worker(server: Server, kind: str) -> tuple[set[str], list[int | None], float]:
    clients = await connect_until_both_workers(server)
    workers = {worker for _, worker in clients}
    started = time.monotonic()
    command = SIGNAL_THE_WORKERS[kind].format(pid=server.pid)
    await asyncio.to_thread(subprocess.run, command, shell=True, check=True)
    codes = await asyncio.wait_for(
        asyncio.gather(*(how_it_ends(ws) for ws, _ in clients)), SPREAD + 10
    )
    return workers, list(codes), time.monotonic() - started


@pytest.mark.parametrize("kind", sorted(SIGNAL_THE_WORKERS))
def test_one_signal_drains_every_worker(kind: str) -> None:
    server = spawn_server(
        kind, APP, env={"DRAIN_SPREAD": str(SPREAD)}, extra_args=["--workers", "2"]
    )
    try:
        server.wait_ready(ready_path="/ready", timeout=30)
        workers, codes, took = asyncio.run(drain_every_worker(server, kind))
        assert server.alive(), "the signal stopped the server instead of draining it"
        mark = server.mark()
        server.send_signal(signal.SIGTERM)
        assert server.wait_gone(15)
        output = server.output()
    finally:
        server.close()
    assert len(workers) == 2, "the kernel gave every connection to one worker: nothing tested"
    assert codes == [1012] * len(codes)
    assert took < SPREAD + 3
    assert "Traceback" not in output
    assert "ERROR" not in output[mark:]
