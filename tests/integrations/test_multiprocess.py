"""``docs/observability.md``'s setup for several worker processes, as it stands, on
``gunicorn -k asgi -w 2`` (with the page's ``gunicorn.conf.py``) and ``uvicorn --workers 2``:
whichever worker a scrape reaches, ``/metrics`` counts the closes and the open connections of
both; a worker killed while it holds connections leaves the gauge on gunicorn (its
``child_exit`` hook) and stays in it on uvicorn (no hook), as the page says.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.integrations import promql_script as script
from tests.integrations.observability_docs import (
    block_containing,
    code_blocks,
    query_rows,
    relabelling,
)
from tests.integrations.prometheus_process import Prometheus, run_prometheus
from tests.support.servers import Server, run_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

APP = "tests.integrations.multiprocess_app:app"
WORKERS = 2
#: At most this many connections to find both workers: the kernel hands each to one of them.
_MOST_CONNECTIONS = 60
_BATCH = 4
_BOUND = 10.0
#: The page's queries of the connections open now, by the label each groups by.
GAUGE_QUERIES = {
    "route": next(row.expression for row in query_rows() if row.name.endswith("per route")),
    "instance": next(row.expression for row in query_rows() if row.name.endswith("per instance")),
}


@pytest.fixture(params=["gunicorn", "uvicorn-websockets-sansio"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    kind: str = request.param
    metrics = tmp_path / "metrics"
    metrics.mkdir()  # empty at every start, as the page says
    arguments = ["--workers", str(WORKERS)]
    if kind == "gunicorn":
        config = tmp_path / "gunicorn.conf.py"
        config.write_text(block_containing("python", "def child_exit"))
        arguments += ["--config", str(config)]
    environment = {"PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    with run_server(kind, APP, ready_path="/health", env=environment, extra_args=arguments) as s:
        yield s


def test_the_page_starts_the_servers_as_tested() -> None:
    (shell,) = [block for block in code_blocks("sh") if "PROMETHEUS_MULTIPROC_DIR" in block]
    assert "gunicorn -k asgi -w 4 -c gunicorn.conf.py" in shell
    assert "uvicorn --workers 4" in shell
    assert 'rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p' in shell


def test_every_worker_is_counted_and_a_dead_one_as_the_page_says(server: Server) -> None:
    with run_prometheus(relabelling(), [instance_of(server)]) as prometheus:
        asyncio.run(_every_worker_is_counted(server, prometheus))


def instance_of(server: Server) -> str:
    return f"{server.host}:{server.port}"


async def _every_worker_is_counted(server: Server, prometheus: Prometheus) -> None:
    async with _on_both_workers(server) as by_worker:
        pids = sorted(by_worker)
        held = sum(len(connections) for connections in by_worker.values())
        await asyncio.to_thread(_scraped_alike, server, closes=0, open_now=held)
        await asyncio.to_thread(_prometheus_sees, prometheus, server, held)

        # Some connections on the first worker end: counted, whichever worker is scraped.
        survivor, victim = pids
        leaving = by_worker[survivor][1:]
        for websocket in leaving:
            await asyncio.wait_for(websocket.close(1000), _BOUND)
        still_open = held - len(leaving)
        await asyncio.to_thread(_scraped_alike, server, closes=len(leaving), open_now=still_open)

        # The other worker dies with its connections open.
        os.kill(victim, signal.SIGKILL)
        # gunicorn's child_exit marks it dead, and its connections leave the gauge; uvicorn
        # calls no hook, and they stay until the next start on an emptied directory.
        dead = len(by_worker[victim]) if server.kind == "gunicorn" else 0
        expected = still_open - dead
        await asyncio.to_thread(_scraped_alike, server, closes=len(leaving), open_now=expected)
        await asyncio.to_thread(_prometheus_sees, prometheus, server, expected)


@contextlib.asynccontextmanager
async def _on_both_workers(server: Server) -> AsyncIterator[dict[int, list[ClientConnection]]]:
    """Open connections until each worker holds at least two; yield them by worker PID.

    A worker takes the connections that reach it first: a few at once, a batch at a time, until
    both have theirs (the second worker may still be starting when the first answers)."""
    async with contextlib.AsyncExitStack() as stack:

        async def opened() -> tuple[int, ClientConnection]:
            url = server.ws_url("/rooms/r-1/echo")
            websocket = await stack.enter_async_context(connect(url, open_timeout=_BOUND))
            await websocket.send("pid")
            return int(await asyncio.wait_for(websocket.recv(), _BOUND)), websocket

        by_worker: dict[int, list[ClientConnection]] = {}
        for _ in range(_MOST_CONNECTIONS // _BATCH):
            for pid, websocket in await asyncio.gather(*(opened() for _ in range(_BATCH))):
                by_worker.setdefault(pid, []).append(websocket)
            if len(by_worker) == WORKERS and min(map(len, by_worker.values())) >= 2:
                break
            await asyncio.sleep(0.2)
        assert len(by_worker) == WORKERS, f"{_MOST_CONNECTIONS} connections reached one worker"
        yield by_worker


def _scraped_alike(server: Server, *, closes: int, open_now: int) -> None:
    """Wait (bounded) until ``/metrics`` says so, then see it say the same several times over:
    each request reaches one worker or the other."""
    script.wait_for_exposition(server, closes=closes, open_now=open_now)
    for _ in range(10):
        assert script.exposition(server) == {"closes": closes, "open": open_now}


def _prometheus_sees(prometheus: Prometheus, server: Server, open_now: int) -> None:
    """The page's two gauge queries, run by a real Prometheus scraping the workers."""
    at = prometheus.wait_for_scrape_after(time.time(), scrapes=2)
    expected = {"route": script.ECHO, "instance": instance_of(server)}
    for label, expression in GAUGE_QUERIES.items():
        vector = prometheus.query(expression, at)
        got = {sample["metric"][label]: float(sample["value"][1]) for sample in vector}
        assert got == {expected[label]: open_now}, (label, got)
