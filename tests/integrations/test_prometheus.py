"""CloseMetrics with the real prometheus_client: every close path counted with the right labels."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard.prometheus import CloseMetrics
from tests.harness import run
from tests.integrations.closepaths import (
    CLOSE_PATHS,
    PATHS_BY_NAME,
    ROOM,
    SECRET,
    ClosePath,
    close_paths_app,
    connect,
)

CLOSES = "websocket_server_closes_total"
DURATION = "websocket_server_connection_duration_seconds"
CONNECTIONS = "websocket_server_connections"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(registry: CollectorRegistry) -> Iterator[TestClient]:
    with TestClient(close_paths_app(CloseMetrics(registry=registry))) as test_client:
        yield test_client


def closes(registry: CollectorRegistry) -> dict[tuple[str, str, str, str], float]:
    """Every sample of the counter: {(code, closed_by, exception, route): value}."""
    return {
        (s.labels["code"], s.labels["closed_by"], s.labels["exception"], s.labels["route"]): s.value
        for metric in registry.collect()
        if metric.name == "websocket_server_closes"
        for s in metric.samples
        if s.name == CLOSES
    }


def durations(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    """The histogram's count per (closed_by, route)."""
    return {
        (s.labels["closed_by"], s.labels["route"]): s.value
        for metric in registry.collect()
        if metric.name == DURATION
        for s in metric.samples
        if s.name == f"{DURATION}_count"
    }


def expected_labels(path: ClosePath) -> tuple[str, str, str, str]:
    return (
        "none" if path.code is None else str(path.code),
        path.closed_by,
        path.exception or "",
        path.route or "",
    )


@pytest.mark.parametrize("path", CLOSE_PATHS, ids=lambda path: path.name)
def test_every_close_path_is_counted_with_its_labels(
    client: TestClient, registry: CollectorRegistry, path: ClosePath
) -> None:
    connect(client, path)
    assert closes(registry) == {expected_labels(path): 1.0}
    assert durations(registry) == {(path.closed_by, path.route or ""): 1.0}


def test_all_paths_together_and_nothing_secret_or_raw_in_the_exposition(
    client: TestClient, registry: CollectorRegistry
) -> None:
    for path in CLOSE_PATHS:
        connect(client, path)
    connect(client, PATHS_BY_NAME["crash"])
    counted = closes(registry)
    assert sum(counted.values()) == len(CLOSE_PATHS) + 1
    assert counted[expected_labels(PATHS_BY_NAME["crash"])] == 2.0
    exposition = generate_latest(registry).decode()
    assert 'route="/rooms/{room}/crash"' in exposition
    # Neither the raw path, nor the close reason, nor the exception's text.
    assert ROOM not in exposition
    assert SECRET not in exposition
    assert "kicked" not in exposition


def test_the_duration_is_the_records(registry: CollectorRegistry) -> None:
    metrics = CloseMetrics(registry=registry)
    metrics(record(duration=42.5, code=1000, closed_by="client"))
    total = registry.get_sample_value(f"{DURATION}_sum", {"closed_by": "client", "route": ""})
    assert total == 42.5
    # 42.5 s falls in the 60 s bucket, not the 30 s one: the buckets reach past a minute.
    bucket = f"{DURATION}_bucket"
    labels = {"closed_by": "client", "route": ""}
    assert registry.get_sample_value(bucket, {**labels, "le": "30.0"}) == 0.0
    assert registry.get_sample_value(bucket, {**labels, "le": "60.0"}) == 1.0
    assert registry.get_sample_value(bucket, {**labels, "le": "28800.0"}) == 1.0


def test_a_starlette_app_gets_its_route_template(registry: CollectorRegistry) -> None:
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(1001)

    app = CloseGuardMiddleware(
        Starlette(routes=[WebSocketRoute("/chat/{channel:int}", chat)]),
        on_close=CloseMetrics(registry=registry),
    )
    with TestClient(app) as test_client, test_client.websocket_connect("/chat/7") as websocket:
        assert websocket.receive()["type"] == "websocket.close"
    assert closes(registry) == {("1001", "app", "", "/chat/{channel:int}"): 1.0}


def test_a_route_under_a_mount_has_the_mounts_template_first(registry: CollectorRegistry) -> None:
    # docs/observability.md: "/v2/{tenant}/rooms/{room}", and include_router keeps its prefix.
    from fastapi import APIRouter, FastAPI

    async def kick(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(4000)

    sub_app, router, app = FastAPI(), APIRouter(), FastAPI()
    sub_app.add_api_websocket_route("/rooms/{room}", kick)
    router.add_api_websocket_route("/feed/{feed}", kick)
    app.include_router(router, prefix="/api")
    app.mount("/v2/{tenant}", sub_app)
    app.add_middleware(CloseGuardMiddleware, on_close=CloseMetrics(registry=registry))
    with TestClient(app) as client:
        for url in ("/v2/acme/rooms/r-1", "/api/feed/f-1"):
            with client.websocket_connect(url) as websocket:
                assert websocket.receive()["code"] == 4000
    assert closes(registry) == {
        ("4000", "app", "", "/v2/{tenant}/rooms/{room}"): 1.0,
        ("4000", "app", "", "/api/feed/{feed}"): 1.0,
    }


@pytest.mark.anyio
async def test_a_plain_asgi_app_has_an_empty_route_and_a_lost_connection_counts_as_none(
    registry: CollectorRegistry,
) -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        await receive()  # type: ignore[operator]
        await send({"type": "websocket.accept"})  # type: ignore[operator]

    # The server's send fails after the accept: the guard's 1000 never goes out.
    guard = CloseGuardMiddleware(app, on_close=CloseMetrics(registry=registry))
    await run(guard, send_error=OSError("connection reset"), fail_sends_after=1)
    assert closes(registry) == {("none", "server", "", ""): 1.0}


def test_twice_on_one_registry_shares_the_metrics(registry: CollectorRegistry) -> None:
    first, second = CloseMetrics(registry=registry), CloseMetrics(registry=registry)
    first(record())
    second(record())
    assert closes(registry) == {("1000", "guard", "", ""): 2.0}
    # A fresh registry gets metrics of its own.
    other = CollectorRegistry()
    CloseMetrics(registry=other)(record())
    assert closes(other) == {("1000", "guard", "", ""): 1.0}
    assert closes(registry) == {("1000", "guard", "", ""): 2.0}


def test_metrics_unregistered_since_are_registered_again(registry: CollectorRegistry) -> None:
    first = CloseMetrics(registry=registry)
    first(record())
    first.connection_opened(None)
    for name in (CLOSES, DURATION, CONNECTIONS):
        registry.unregister(registry._names_to_collectors[name])
    assert closes(registry) == {}
    CloseMetrics(registry=registry)(record())
    assert closes(registry) == {("1000", "guard", "", ""): 2.0}
    assert durations(registry) == {("guard", ""): 2.0}
    assert registry.get_sample_value(CONNECTIONS, {"route": ""}) == 1.0


def test_many_threads_creating_it_at_once_on_one_registry(registry: CollectorRegistry) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    made: list[CloseMetrics] = []

    def create() -> None:
        try:
            barrier.wait(timeout=10)
            made.append(CloseMetrics(registry=registry))
            made[-1](record())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert len(made) == 8
    assert closes(registry) == {("1000", "guard", "", ""): 8.0}


def test_none_is_the_default_registry() -> None:
    metrics = CloseMetrics()
    assert metrics.registry is REGISTRY
    assert CloseMetrics().registry is REGISTRY  # and again: no duplicate-name error
    labels = {"code": "4001", "closed_by": "app", "exception": "", "route": "/default"}
    before = REGISTRY.get_sample_value(CLOSES, labels) or 0.0
    metrics(record(code=4001, closed_by="app", route="/default"))
    assert REGISTRY.get_sample_value(CLOSES, labels) == before + 1


def test_a_name_taken_by_another_metric_is_a_clear_error(registry: CollectorRegistry) -> None:
    Counter("websocket_server_closes", "someone else's", registry=registry)
    with pytest.raises(ValueError, match=r"websocket_server_closes_total.*registry of its own"):
        CloseMetrics(registry=registry)


def test_a_taken_histogram_name_leaves_the_registry_as_it_was(
    registry: CollectorRegistry,
) -> None:
    Counter(DURATION, "someone else's", registry=registry)
    names_before = {metric.name for metric in registry.collect()}
    with pytest.raises(ValueError, match=DURATION):
        CloseMetrics(registry=registry)
    assert {metric.name for metric in registry.collect()} == names_before


@pytest.mark.parametrize("wrong", ["default", object(), {}])
def test_a_wrong_registry_says_what_to_pass(wrong: object) -> None:
    with pytest.raises(TypeError, match=r"registry must be a prometheus_client\.CollectorRegistry"):
        CloseMetrics(registry=wrong)  # type: ignore[arg-type]


def test_options_are_keyword_only(registry: CollectorRegistry) -> None:
    with pytest.raises(TypeError):
        CloseMetrics(registry)  # type: ignore[misc]


def test_without_prometheus_client_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'asgi-closeguard\[prometheus\]'"):
        CloseMetrics()


def test_repr_names_the_registry(registry: CollectorRegistry) -> None:
    assert repr(CloseMetrics(registry=registry)) == f"CloseMetrics(registry={registry!r})"


def record(
    *,
    code: int | None = 1000,
    closed_by: str = "guard",
    route: str | None = None,
    duration: float = 0.5,
) -> CloseRecord:
    return CloseRecord(
        path="/raw/path/1",
        closed_by=closed_by,  # type: ignore[arg-type]
        code=code,
        reason="",
        requested_code=None,
        exception=None,
        accepted=True,
        http_status=None,
        duration=duration,
        messages_sent=0,
        messages_received=0,
        route=route,
    )
