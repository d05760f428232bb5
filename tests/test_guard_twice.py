"""The guard inside a guard, and what the guard tells integrations when a connection opens.

A guard that finds another guard already around the same connection (added twice, or an
adapter plus ``add_middleware``) steps aside: one close and one record per connection, with
the outer guard's options, and one warning that the guard is installed twice.
"""

from __future__ import annotations

import logging

import anyio
import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._types import Receive, Scope, Send
from tests.harness import CONNECT, run, text

pytestmark = pytest.mark.anyio


async def crashes(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    raise LookupError("no such room")


async def test_a_guard_inside_a_guard_steps_aside_one_close_one_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outer_records: list[CloseRecord] = []
    inner_records: list[CloseRecord] = []
    inner = CloseGuardMiddleware(
        crashes, on_close=inner_records.append, exception_codes={LookupError: 4404}
    )
    outer = CloseGuardMiddleware(inner, on_close=outer_records.append)
    with caplog.at_level(logging.WARNING, logger="asgi_closeguard"):
        for _ in range(3):
            outcome = await run(outer, records=outer_records)
            assert outcome.server.only_close() == (1011, "Internal Error")  # the outer's options
            assert isinstance(outcome.exception, LookupError)
    assert len(outer_records) == 3
    assert inner_records == []
    (warning,) = [r for r in caplog.records if "installed twice" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert "on_close=[metrics, telemetry]" in warning.getMessage()


async def test_a_guard_added_twice_to_starlette_gives_one_close_and_one_record() -> None:
    records: list[CloseRecord] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        await websocket.close(code=1005)  # replaced with 1000, and only once

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    app.add_middleware(CloseGuardMiddleware, on_close=records.append)
    app.add_middleware(CloseGuardMiddleware, on_close=records.append)
    with TestClient(app) as client, client.websocket_connect("/ws") as websocket:
        websocket.send_text("hi")
        message = websocket.receive()
    assert message == {"type": "websocket.close", "code": 1000, "reason": ""}
    assert [(r.closed_by, r.code, r.requested_code, r.route) for r in records] == [
        ("app", 1000, 1005, "/ws")
    ]


async def test_integrations_hear_of_each_accept_with_the_route() -> None:
    class Counter:
        def __init__(self) -> None:
            self.opened: list[str | None] = []
            self.closed: list[CloseRecord] = []

        def connection_opened(self, route: str | None) -> None:
            self.opened.append(route)

        def __call__(self, record: CloseRecord) -> None:
            self.closed.append(record)

    class Broken(Counter):
        def connection_opened(self, route: str | None) -> None:
            raise RuntimeError("gauge broken")

    async def echo_once(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        scope["route"] = type("Route", (), {"path": "/rooms/{room}"})()
        await send({"type": "websocket.accept"})
        await receive()

    counter, broken = Counter(), Broken()
    guard = CloseGuardMiddleware(echo_once, on_close=[broken, counter, print])
    with anyio.fail_after(2):
        outcome = await run(guard, CONNECT, text("hi"), records=[])
    assert outcome.server.only_close()[0] == 1000  # a broken hook never breaks the connection
    assert counter.opened == ["/rooms/{room}"]
    assert [record.route for record in counter.closed] == ["/rooms/{room}"]


async def test_a_refused_handshake_is_never_counted_as_open() -> None:
    opened: list[str | None] = []

    class Gauge:
        connection_opened = opened.append

        def __call__(self, record: CloseRecord) -> None:
            pass

    async def refuses(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 4401})

    await run(CloseGuardMiddleware(refuses, on_close=Gauge()))
    assert opened == []
