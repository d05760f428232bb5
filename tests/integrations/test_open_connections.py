"""The connections open now: ``CloseMetrics``' gauge ``websocket_server_connections`` and
``CloseTelemetry``'s up-down counter ``websocket.server.connections``, both by route.

The guard calls ``connection_opened(route)`` on each ``on_close`` callback that has one, after
the accept went out; the integration brings the count down when the same connection's record
arrives with ``accepted=True``. Both integrations run through the same table of cases.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any, Protocol

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, Counter
from starlette.testclient import TestClient

from asgi_closeguard import CloseGuardMiddleware, CloseRecord, Drain
from asgi_closeguard._types import Message, Receive, Scope, Send
from asgi_closeguard.opentelemetry import CloseTelemetry
from asgi_closeguard.prometheus import CloseMetrics
from tests.harness import run
from tests.integrations.closepaths import (
    CLOSE_PATHS,
    PATHS_BY_NAME,
    ClosePath,
    close_paths_app,
    connect,
)


class Backend(Protocol):
    """One integration and a way to read its count of open connections."""

    integration: Any

    def open_now(self) -> dict[str, float]:
        """{route (``""`` when unknown): connections open}, for every route with a series."""
        ...


class Prometheus:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.integration = CloseMetrics(registry=self.registry)

    def open_now(self) -> dict[str, float]:
        return {
            sample.labels["route"]: sample.value
            for metric in self.registry.collect()
            if metric.name == "websocket_server_connections"
            for sample in metric.samples
        }


class OpenTelemetry:
    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])
        self.integration = CloseTelemetry(meter_provider=self.provider)

    def open_now(self) -> dict[str, float]:
        data = self.reader.get_metrics_data()
        found: dict[str, float] = {}
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == "websocket.server.connections":
                        assert metric.unit == "{connection}"
                        assert not metric.data.is_monotonic  # an up-down counter
                        for point in metric.data.data_points:
                            found[str(point.attributes.get("route", ""))] = point.value
        return found


@pytest.fixture(params=[Prometheus, OpenTelemetry], ids=["prometheus", "opentelemetry"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    made: Backend = request.param()
    yield made
    if isinstance(made, OpenTelemetry):
        made.provider.shutdown()


def record(*, route: str | None, accepted: bool = True) -> CloseRecord:
    return CloseRecord(
        path="/raw/path/1",
        closed_by="client",
        code=1000 if accepted else None,
        reason="",
        requested_code=None,
        exception=None,
        accepted=accepted,
        http_status=None if accepted else 403,
        duration=0.5,
        messages_sent=0,
        messages_received=0,
        route=route,
    )


def test_each_accept_counts_and_each_accepted_record_takes_it_back(backend: Backend) -> None:
    integration = backend.integration
    integration.connection_opened("/rooms/{room}")
    integration.connection_opened("/rooms/{room}")
    integration.connection_opened(None)
    assert backend.open_now() == {"/rooms/{room}": 2, "": 1}
    integration(record(route="/rooms/{room}"))
    assert backend.open_now() == {"/rooms/{room}": 1, "": 1}
    integration(record(route=None))
    integration(record(route="/rooms/{room}"))
    assert backend.open_now() == {"/rooms/{room}": 0, "": 0}


def test_a_refused_handshake_was_never_open(backend: Backend) -> None:
    backend.integration.connection_opened("/chat")
    backend.integration(record(route="/chat", accepted=False))
    assert backend.open_now() == {"/chat": 1}


def test_a_close_it_was_not_told_of_leaves_the_count_alone_and_says_why_once(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    # An integration called from a function of the user's hears of no accept: its count
    # stays at 0 rather than going below it.
    integration = backend.integration
    integration.connection_opened("/chat")
    with caplog.at_level(logging.WARNING, logger="asgi_closeguard"):
        integration(record(route="/feed"))
        integration(record(route="/feed"))
        integration(record(route="/chat"))
    assert backend.open_now() == {"/chat": 0}
    (warning,) = caplog.records
    name = type(integration).__name__
    assert f"{name} got the record of a connection it was not told was opened" in (
        warning.getMessage()
    )
    assert f"on_close=[{name}(), my_callback]" in warning.getMessage()


def test_opens_and_closes_from_many_threads_at_once(backend: Backend) -> None:
    integration = backend.integration
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def connections() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(300):
                integration.connection_opened("/chat")
                integration(record(route="/chat"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=connections) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert backend.open_now() == {"/chat": 0}


# --- Prometheus only ---------------------------------------------------------------------------


def test_two_on_one_registry_share_the_gauge_and_each_counts_its_own() -> None:
    registry = CollectorRegistry()
    first, second = CloseMetrics(registry=registry), CloseMetrics(registry=registry)
    first.connection_opened("/chat")
    second.connection_opened("/chat")
    second(record(route="/chat"))
    # The second was told of one accept: a second record of its own is not one of them.
    second(record(route="/chat"))
    labels = {"route": "/chat"}
    assert registry.get_sample_value("websocket_server_connections", labels) == 1.0


def test_a_taken_gauge_name_leaves_the_registry_as_it_was() -> None:
    registry = CollectorRegistry()
    Counter("websocket_server_connections", "someone else's", registry=registry)
    names_before = {metric.name for metric in registry.collect()}
    with pytest.raises(ValueError, match="websocket_server_connections"):
        CloseMetrics(registry=registry)
    assert {metric.name for metric in registry.collect()} == names_before


# --- through the guard -------------------------------------------------------------------------

ACCEPT: Message = {"type": "websocket.accept"}


def both() -> tuple[Prometheus, OpenTelemetry]:
    return Prometheus(), OpenTelemetry()


def open_on_both(backends: tuple[Prometheus, OpenTelemetry]) -> list[dict[str, float]]:
    return [backend.open_now() for backend in backends]


@pytest.mark.anyio
async def test_the_guard_counts_the_connection_from_its_accept_to_its_record() -> None:
    backends = both()
    seen: list[list[dict[str, float]]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        seen.append(open_on_both(backends))  # not yet accepted
        await send(ACCEPT)
        seen.append(open_on_both(backends))
        await send({"type": "websocket.close", "code": 4000})

    guard = CloseGuardMiddleware(app, on_close=[b.integration for b in backends])
    outcome = await run(guard)
    assert outcome.server.only_close() == (4000, "")
    assert seen == [[{}, {}], [{"": 1}, {"": 1}]]
    assert open_on_both(backends) == [{"": 0}, {"": 0}]


@pytest.mark.parametrize("path", CLOSE_PATHS, ids=lambda path: path.name)
def test_every_close_path_leaves_nothing_open(backend: Backend, path: ClosePath) -> None:
    with TestClient(close_paths_app(backend.integration)) as client:
        connect(client, path)
    # A handshake answered with HTTP was never open: no series for its route at all.
    accepted = path.code is not None
    assert backend.open_now() == ({path.route or "": 0} if accepted else {})


def test_a_connection_is_open_on_its_route_until_the_client_leaves(backend: Backend) -> None:
    echo = PATHS_BY_NAME["client-close"]
    with TestClient(close_paths_app(backend.integration)) as client:
        with client.websocket_connect(echo.url) as websocket:
            websocket.send_text("hello")
            assert websocket.receive_text() == "hello"
            assert backend.open_now() == {echo.route: 1}
            websocket.close(1001)
        assert backend.open_now() == {echo.route: 0}


@pytest.mark.anyio
async def test_a_drain_brings_the_count_to_zero() -> None:
    backends = both()
    drain = Drain()
    records: list[CloseRecord] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        while (await receive())["type"] != "websocket.disconnect":
            pass

    guard = CloseGuardMiddleware(
        app, drain=drain, on_close=[*(b.integration for b in backends), records.append]
    )
    async with anyio.create_task_group() as tasks:
        for _ in range(3):
            tasks.start_soon(run, guard)
        with anyio.fail_after(2):
            while drain.open_connections < 3:  # noqa: ASYNC110 - accepts in other tasks
                await anyio.sleep(0.005)
        assert open_on_both(backends) == [{"": 3}, {"": 3}]
        with anyio.fail_after(3):
            await drain.start(spread=0.1)
    assert open_on_both(backends) == [{"": 0}, {"": 0}]
    # One more while draining: accepted and closed with 1012 at once, counted in and out.
    await run(guard)
    assert open_on_both(backends) == [{"": 0}, {"": 0}]
    assert [(r.code, r.accepted) for r in records] == [(1012, True)] * 4


# --- every framework adapter: the route at the accept is the record's -------------------------

FRAMEWORKS = ["fastapi", "litestar", "quart", "falcon", "blacksheep", "channels"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_framework_counts_its_connection_on_the_records_route(
    framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The guard reads the route at the accept and again for the record; the count goes down
    # only if both name the same route, which every framework sets before its handler runs.
    from tests.frameworks import apps

    prometheus = Prometheus()
    build = getattr(apps, f"{framework}_app")
    app = build(True, {"on_close": [prometheus.integration]})
    # No lifespan: Channels' router has none, and none of this needs it.
    client = TestClient(app)
    with (
        caplog.at_level(logging.WARNING, logger="asgi_closeguard"),
        client.websocket_connect("/client-close") as websocket,
    ):
        assert websocket.receive_text() == "ready"
        (route,) = prometheus.open_now()
        assert prometheus.open_now() == {route: 1}
        assert route not in ("", "/client-close")  # a template, never the raw path
        websocket.close(1000)
    assert prometheus.open_now() == {route: 0}
    assert not [r for r in caplog.records if "not told was opened" in r.getMessage()]
