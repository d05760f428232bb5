"""``on_close`` with several callbacks: each called once per connection, in order; one that
raises is logged and the others still run. And both integrations on one guard, in one line."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._types import Receive, Scope, Send
from asgi_closeguard.opentelemetry import CloseTelemetry
from asgi_closeguard.prometheus import CloseMetrics
from tests.harness import CONNECT, disconnect, run, text
from tests.integrations.closepaths import CLOSE_PATHS, close_paths_app, connect


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message["text"]})


async def crash(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    raise RuntimeError("handler bug")


@pytest.mark.anyio
@pytest.mark.parametrize("container", [list, tuple])
async def test_each_callback_once_per_connection_in_order(container: Any) -> None:
    calls: list[tuple[str, CloseRecord]] = []

    def first(record: CloseRecord) -> None:
        calls.append(("first", record))

    async def second(record: CloseRecord) -> None:
        await anyio.lowlevel.checkpoint()
        calls.append(("second", record))

    def third(record: CloseRecord) -> None:
        calls.append(("third", record))

    guard = CloseGuardMiddleware(echo, on_close=container([first, second, third]))
    for _ in range(2):
        await run(guard, CONNECT, text("a"), disconnect(1001))
    assert [name for name, _ in calls] == ["first", "second", "third"] * 2
    # One record per connection, the same object for every callback.
    assert calls[0][1] is calls[1][1] is calls[2][1]
    assert calls[3][1] is not calls[0][1]
    assert (calls[0][1].code, calls[0][1].closed_by) == (1001, "client")


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_one_that_raises_is_logged_and_the_others_still_run(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def sync_bug(record: CloseRecord) -> None:
        raise ValueError("callback bug")

    async def async_bug(record: CloseRecord) -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("callback bug")

    callbacks = [
        lambda record: seen.append("before"),
        sync_bug if kind == "sync" else async_bug,
        lambda record: seen.append("after"),
    ]
    with caplog.at_level(logging.ERROR, logger="asgi_closeguard"):
        outcome = await run(CloseGuardMiddleware(crash, on_close=callbacks))
    assert seen == ["before", "after"]
    assert isinstance(outcome.exception, RuntimeError)  # the app's, not the callback's
    assert outcome.server.only_close() == (1011, "Internal Error")
    failures = [r for r in caplog.records if "on_close" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert "callback bug" in caplog.text


@pytest.mark.anyio
async def test_an_empty_sequence_calls_nothing() -> None:
    outcome = await run(CloseGuardMiddleware(echo, on_close=[]), CONNECT, disconnect())
    assert outcome.exception is None
    assert outcome.records == []


@pytest.mark.parametrize(
    "on_close",
    [
        pytest.param("print", id="a-string"),
        pytest.param([print, "print"], id="a-string-in-a-list"),
        pytest.param((print, 42), id="a-number-in-a-tuple"),
        pytest.param(iter([print]), id="an-iterator"),
    ],
)
def test_anything_else_says_what_to_pass(on_close: object) -> None:
    with pytest.raises(TypeError, match="on_close must be a function that takes a CloseRecord"):
        CloseGuardMiddleware(echo, on_close=on_close)  # type: ignore[arg-type]


def test_both_integrations_on_one_guard() -> None:
    registry = CollectorRegistry()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    app = close_paths_app(
        [CloseMetrics(registry=registry), CloseTelemetry(meter_provider=provider)]
    )
    with TestClient(app) as client:
        for path in CLOSE_PATHS:
            connect(client, path)
    prometheus_total = sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "websocket_server_closes"
        for sample in metric.samples
        if sample.name == "websocket_server_closes_total"
    )
    data = reader.get_metrics_data()
    assert data is not None
    otel_total = sum(
        point.value
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == "websocket.server.closes"
        for point in metric.data.data_points
    )
    assert prometheus_total == otel_total == len(CLOSE_PATHS)
    provider.shutdown()


def test_importing_the_package_or_the_integrations_loads_neither_library() -> None:
    code = (
        "import sys, asgi_closeguard, asgi_closeguard.prometheus, asgi_closeguard.opentelemetry\n"
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('prometheus_client', 'opentelemetry')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert completed.stdout.strip() == "[]"
