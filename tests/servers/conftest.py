"""Session fixtures: the seven servers, started once, and everything observed on them.

Every server kind serves ``tests.servers.apps:app`` (raw and guarded side by side) for the whole
session; all scenarios run once per server, concurrently, and the tests then read the outcomes.
A server that fails to start fails its own tests, with its output, and no others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.servers.browser_checks import observe_browser
from tests.servers.observe import Outcome, Side, fetch_implementation, observe
from tests.servers.report import BrowserObservations
from tests.support.servers import SERVER_KINDS, Server, ServerStartError, run_servers

Started = dict[str, Server | ServerStartError]


@pytest.fixture(scope="session")
def started_servers() -> Iterator[Started]:
    """All seven server kinds serving the scenario app, started concurrently, stopped at the end."""
    with run_servers(SERVER_KINDS, "tests.servers.apps:app", ready_path="/health") as started:
        yield started


def running(started: Started) -> dict[str, Server]:
    """The servers that did start."""
    return {kind: server for kind, server in started.items() if isinstance(server, Server)}


def server_for(started: Started, kind: str) -> Server:
    """The server of ``kind``, or fail the test with why it did not start."""
    server = started[kind]
    if isinstance(server, ServerStartError):
        pytest.fail(f"{kind} did not start:\n{server}", pytrace=False)
    return server


async def observe_all(servers: dict[str, Server]) -> dict[str, dict[tuple[str, Side], Outcome]]:
    """Every scenario, raw and guarded, on every server in ``servers``."""
    results = await asyncio.gather(*(observe(server) for server in servers.values()))
    return {kind: dict(result) for kind, result in zip(servers, results, strict=True)}


@pytest.fixture(scope="session")
def observations(started_servers: Started) -> dict[str, dict[tuple[str, Side], Outcome]]:
    """Every scenario, raw and guarded, on every server that started."""
    return asyncio.run(observe_all(running(started_servers)))


@pytest.fixture(scope="session")
def browser_observations(started_servers: Started) -> BrowserObservations:
    """``CloseEvent.code`` in Chromium for every browser scenario, raw and guarded."""
    return asyncio.run(observe_browser(running(started_servers)))


@pytest.fixture(scope="session")
def implementations(
    started_servers: Started, observations: dict[str, dict[tuple[str, Side], Outcome]]
) -> dict[str, str]:
    """The class behind each server's WebSocket ``send`` (after the scenarios have run)."""
    return {kind: fetch_implementation(server) for kind, server in running(started_servers).items()}
