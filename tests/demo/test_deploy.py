"""The demo's deploy, in memory: ``POST /api/deploy`` and the two sides it plays.

Each connection runs on the project's in-memory ASGI server (:mod:`tests.harness`), whose client
answers a close as a real one does; the deploy is asked for over httpx's ASGI transport, in the
same event loop. Raw, every open WebSocket gets 1012 in the same instant, as uvicorn sends at
``SIGTERM``; guarded, the mount's ``Drain`` closes each with 1012 at its own moment over the
spread, then a fresh guard serves. Under asyncio and trio.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from asgi_closeguard._types import Message, Receive, Scope, Send
from demo_app.app import DEPLOY_SPREAD, MAX_DEPLOY_SPREAD, create_app
from demo_app.deploys import SERVICE_RESTART, Deploys, ServerStop
from tests.harness import CONNECT, InMemoryServer, disconnect, text

#: Bounds every test, so that a connection that never ends fails the test instead of hanging.
TIME_LIMIT = 10.0


@dataclass
class TimedServer(InMemoryServer):
    """The in-memory server, noting when each close went out (the event loop's clock)."""

    closed_at: list[float] = field(default_factory=list, init=False)

    async def send(self, message: Message) -> None:
        await super().send(message)
        if message["type"] == "websocket.close":
            self.closed_at.append(anyio.current_time())


def deploy_session(side: str, *client: Message) -> TimedServer:
    """A client of the deploy scenario on ``side``: it connects, says ``client``, then waits."""
    return TimedServer(client=(CONNECT, *client), path=f"/{side}/ws/deploy")


def api(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo")


async def wait_for(condition: Callable[[], bool]) -> None:
    """Poll ``condition``: what it reads changes in other tasks (the apps, the drain)."""
    while not condition():  # noqa: ASYNC110 - state other tasks change
        await anyio.sleep(0.01)


@asynccontextmanager
async def serving(app: FastAPI, servers: list[TimedServer]) -> AsyncIterator[None]:
    """Run one connection of ``app`` per server, each accepted before the block starts; every
    one must have ended when the block does."""
    with anyio.fail_after(TIME_LIMIT):
        async with anyio.create_task_group() as tasks:
            for server in servers:
                tasks.start_soon(app, server.scope, server.receive, server.send)
            await wait_for(lambda: all(server.sent for server in servers))
            assert all(server.types()[0] == "websocket.accept" for server in servers)
            yield


def spread_of(times: list[float]) -> float:
    return max(times) - min(times)


@pytest.mark.anyio
async def test_a_deploy_closes_the_raw_side_at_once_and_drains_the_guarded_side() -> None:
    app = create_app()
    spread, clients = 0.6, 4
    raw = [deploy_session("raw") for _ in range(clients)]
    guarded = [deploy_session("guarded") for _ in range(clients)]
    async with serving(app, raw + guarded), api(app) as client:
        response = await client.post("/api/deploy", params={"spread": spread})
    assert response.status_code == 200
    report = response.json()
    assert {key: report[key] for key in ("spread", "raw_closed", "drained", "instance")} == {
        "spread": spread,
        "raw_closed": clients,
        "drained": clients,
        "instance": 2,
    }
    # Raw: uvicorn's 1012, without a reason, to every connection in the same instant.
    assert [server.only_close() for server in raw] == [(1012, "")] * clients
    raw_times = [server.closed_at[0] for server in raw]
    assert spread_of(raw_times) < spread / 10
    # Guarded: the drain's 1012, each at its own moment, one step of spread / clients apart.
    assert [server.only_close() for server in guarded] == [(1012, "Service Restart")] * clients
    guarded_times = sorted(server.closed_at[0] for server in guarded)
    step = spread / clients
    assert spread_of(guarded_times) >= (clients - 1) * step * 0.8
    assert all(later - earlier >= step / 2 for earlier, later in itertools.pairwise(guarded_times))
    assert report["drain_seconds"] >= spread_of(guarded_times) * 0.9
    # Each app heard of it as at a real stop: its pending receive() got the client's answer.
    assert all(server.received[-1]["type"] == "websocket.disconnect" for server in raw + guarded)


@pytest.mark.anyio
async def test_the_guard_records_each_drained_connection_and_nothing_of_the_raw_side() -> None:
    app = create_app()
    servers = [deploy_session("raw"), deploy_session("guarded"), deploy_session("guarded")]
    async with serving(app, servers), api(app) as client:
        await client.post("/api/deploy", params={"spread": 0.1})
        snapshot = (await client.get("/api/closes")).json()
    assert snapshot["counts"] == {"1012": 2}
    assert [
        (record["path"], record["closed_by"], record["reason"]) for record in snapshot["records"]
    ] == [("/guarded/ws/deploy", "server", "Service Restart")] * 2


@pytest.mark.anyio
async def test_after_the_drain_a_fresh_guard_serves_and_sessions_echo_again() -> None:
    app = create_app()
    deploys: Deploys = app.state.deploys
    drained_guard, drained = deploys.guarded.guard, deploys.guarded.drain
    async with api(app) as client:
        response = await client.post("/api/deploy", params={"spread": 0})
    assert response.json()["instance"] == 2
    assert drained.draining
    assert deploys.guarded.guard is not drained_guard
    assert not deploys.guarded.drain.draining
    assert deploys.guarded.guard.drain is deploys.guarded.drain
    session = deploy_session("guarded", text("hello again"), disconnect(1000, "bye"))
    with anyio.fail_after(TIME_LIMIT):
        await app(session.scope, session.receive, session.send)
    assert session.types() == ["websocket.accept", "websocket.send"]
    assert session.sent[1]["text"] == "hello again"


@pytest.mark.anyio
async def test_a_websocket_that_arrives_while_draining_gets_1012_at_once() -> None:
    app = create_app()
    deploys: Deploys = app.state.deploys
    drain = deploys.guarded.drain
    spread = 1.0
    open_ones = [deploy_session("guarded"), deploy_session("guarded")]
    latecomer = deploy_session("guarded", text("anyone there?"))
    async with serving(app, open_ones), api(app) as client, anyio.create_task_group() as tasks:
        tasks.start_soon(partial(client.post, "/api/deploy", params={"spread": spread}))
        await wait_for(lambda: drain.draining)
        await app(latecomer.scope, latecomer.receive, latecomer.send)
        # It came and went while the first of the others was still open.
        assert any(not server.closes() for server in open_ones)
    # Accepted and closed with 1012 at once: never handed to the app, whose echo never came.
    assert latecomer.types() == ["websocket.accept", "websocket.close"]
    assert latecomer.only_close() == (1012, "Service Restart")


@pytest.mark.anyio
async def test_one_deploy_at_a_time() -> None:
    app = create_app()
    answers: list[httpx.Response] = []
    # Three open connections: the drain closes the last one 2/3 of the spread after the first.
    open_ones = [deploy_session("guarded") for _ in range(3)]
    async with serving(app, open_ones), api(app) as client:
        deploys: Deploys = app.state.deploys
        async with anyio.create_task_group() as tasks:

            async def first() -> None:
                answers.append(await client.post("/api/deploy", params={"spread": 1.0}))

            tasks.start_soon(first)
            await wait_for(lambda: deploys.running)
            second = await client.post("/api/deploy", params={"spread": 1.0})
        assert second.status_code == 409
        assert "a deploy is running" in second.json()["detail"]
        assert [answer.status_code for answer in answers] == [200]
        # Once it is over, the next deploy runs (against the fresh guard, with nothing open).
        third = await client.post("/api/deploy", params={"spread": 0})
    assert third.json() == {
        "spread": 0.0,
        "raw_closed": 0,
        "drained": 0,
        "drain_seconds": third.json()["drain_seconds"],
        "instance": 3,
    }


@pytest.mark.anyio
async def test_a_deploy_whose_caller_gives_up_still_ends_with_a_fresh_guard() -> None:
    app = create_app()
    deploys: Deploys = app.state.deploys
    drain = deploys.guarded.drain
    open_ones = [deploy_session("guarded") for _ in range(2)]
    async with serving(app, open_ones):
        with anyio.move_on_after(0.1) as gave_up:
            await deploys.deploy(spread=0.4)
        assert gave_up.cancel_called  # the caller gave up while the drain ran
    # The drain went on, then the next guard took over, and the next deploy may run.
    assert [server.only_close() for server in open_ones] == [(1012, "Service Restart")] * 2
    assert drain.draining
    assert not deploys.guarded.drain.draining
    assert deploys.guarded.instance == 2
    assert not deploys.running


@pytest.mark.parametrize(
    "spread", ["-1", "-0.001", str(MAX_DEPLOY_SPREAD + 1), "nan", "inf", "-inf", "abc", ""]
)
def test_a_spread_out_of_bounds_is_a_422(spread: str) -> None:
    with TestClient(create_app()) as client:
        response = client.post("/api/deploy", params={"spread": spread})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "spread"]


def test_the_deploy_takes_the_default_spread_and_is_documented() -> None:
    with TestClient(create_app()) as client:
        assert client.post("/api/deploy").json()["spread"] == DEPLOY_SPREAD
        assert client.get("/api/deploy").status_code == 405
        operation = client.get("/openapi.json").json()["paths"]["/api/deploy"]["post"]
    (parameter,) = operation["parameters"]
    assert parameter["name"] == "spread"
    assert parameter["schema"]["default"] == DEPLOY_SPREAD
    assert (parameter["schema"]["minimum"], parameter["schema"]["maximum"]) == (
        0,
        MAX_DEPLOY_SPREAD,
    )
    assert "409" in operation["responses"]


# --- ServerStop on its own -----------------------------------------------------------------


async def session(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then wait for the client to go, as a chat session does."""
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


@dataclass
class StuckServer(InMemoryServer):
    """A server whose close never goes out: its client stopped reading."""

    async def send(self, message: Message) -> None:
        if message["type"] == "websocket.close":
            await anyio.sleep_forever()
        await super().send(message)


@pytest.mark.anyio
async def test_server_stop_closes_only_what_is_open() -> None:
    stop = ServerStop(session)
    ended = InMemoryServer(client=(CONNECT, disconnect(1001)))
    with anyio.fail_after(TIME_LIMIT):
        await stop(ended.scope, ended.receive, ended.send)
    assert stop.open_connections == 0
    assert await stop.close_every_connection() == 0
    assert ended.closes() == []


@pytest.mark.anyio
async def test_server_stop_sends_what_uvicorn_sends_and_forgets_the_connection() -> None:
    stop = ServerStop(session)
    server = InMemoryServer()
    with anyio.fail_after(TIME_LIMIT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(stop, server.scope, server.receive, server.send)
            await wait_for(lambda: stop.open_connections == 1)
            assert await stop.close_every_connection() == 1
            assert stop.open_connections == 0
    assert (
        server.sent[-1]
        == SERVICE_RESTART
        == {
            "type": "websocket.close",
            "code": 1012,
            "reason": "",
        }
    )


@pytest.mark.anyio
async def test_a_close_that_fails_or_hangs_does_not_hold_back_the_others() -> None:
    stop = ServerStop(session)
    gone = InMemoryServer(send_error=OSError("the client went away"), fail_sends_after=1)
    stuck = StuckServer()
    fine = InMemoryServer()
    with anyio.fail_after(TIME_LIMIT):
        async with anyio.create_task_group() as tasks:
            for server in (gone, stuck, fine):
                tasks.start_soon(stop, server.scope, server.receive, server.send)
            await wait_for(lambda: stop.open_connections == 3)
            assert await stop.close_every_connection() == 3
            await wait_for(lambda: bool(fine.closes()))
            # The two broken ones never hear the client's answer: the test ends their apps.
            tasks.cancel_scope.cancel()
    assert fine.only_close() == (1012, "")
    assert gone.closes() == stuck.closes() == []


@pytest.mark.anyio
async def test_http_goes_through_the_raw_mount_untouched() -> None:
    app = create_app()
    async with api(app) as client:
        response = await client.get("/raw/nothing-here")
    # The raw sub-app's own 404: the stop let the request through.
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
