"""CloseTelemetry with the real OpenTelemetry SDK: the metrics, and the connection's span under
OpenTelemetry's ASGI middleware and under FastAPI's own telemetry, for every close path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from opentelemetry import metrics as otel_metrics
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.testclient import TestClient

from asgi_closeguard import CloseRecord
from asgi_closeguard.opentelemetry import CloseTelemetry
from tests.integrations.closepaths import (
    CLOSE_PATHS,
    PATHS_BY_NAME,
    ROOM,
    SECRET,
    ClosePath,
    close_paths_app,
    connect,
)

OUR_KEYS = {"websocket.close.code", "websocket.closed_by", "error.type", "route"}


class Telemetry:
    """An SDK meter provider with an in-memory reader, and a tracer provider with an in-memory
    exporter: what an app's OpenTelemetry setup would export, kept for the test."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def points(self, name: str) -> list[Any]:
        found = []
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def instruments(self) -> dict[str, tuple[str, str]]:
        """{name: (unit, meter name)} of every instrument with data."""
        data = self.reader.get_metrics_data()
        return {
            metric.name: (metric.unit, scope_metrics.scope.name)
            for resource_metrics in (data.resource_metrics if data else ())
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        }

    def connection_span(self) -> ReadableSpan:
        (span,) = [s for s in self.exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        return span


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.meter_provider.shutdown()
    telemetry.tracer_provider.shutdown()


def expected_attributes(path: ClosePath) -> dict[str, Any]:
    attributes: dict[str, Any] = {"websocket.closed_by": path.closed_by}
    if path.code is not None:
        attributes["websocket.close.code"] = path.code
    if path.exception is not None:
        attributes["error.type"] = path.exception
    if path.route is not None:
        attributes["route"] = path.route
    return attributes


# --- the metrics --------------------------------------------------------------------------


@pytest.mark.parametrize("path", CLOSE_PATHS, ids=lambda path: path.name)
def test_every_close_path_is_counted_and_timed_with_its_attributes(
    telemetry: Telemetry, path: ClosePath
) -> None:
    app = close_paths_app(CloseTelemetry(meter_provider=telemetry.meter_provider))
    with TestClient(app) as client:
        connect(client, path)
    (count,) = telemetry.points("websocket.server.closes")
    assert (dict(count.attributes), count.value) == (expected_attributes(path), 1)
    (duration,) = telemetry.points("websocket.server.connection.duration")
    assert isinstance(duration, HistogramDataPoint)
    assert dict(duration.attributes) == expected_attributes(path)
    assert duration.count == 1
    assert 0 < duration.sum < 5
    closes_and_durations = {
        name: found
        for name, found in telemetry.instruments().items()
        if name != "websocket.server.connections"  # test_open_connections.py
    }
    assert closes_and_durations == {
        "websocket.server.closes": ("{close}", "asgi_closeguard"),
        "websocket.server.connection.duration": ("s", "asgi_closeguard"),
    }


def test_the_duration_histogram_has_buckets_up_to_hours(telemetry: Telemetry) -> None:
    CloseTelemetry(meter_provider=telemetry.meter_provider)(record(duration=1200.0))
    (duration,) = telemetry.points("websocket.server.connection.duration")
    assert duration.explicit_bounds[-1] >= 3600
    assert 1800.0 in duration.explicit_bounds


def test_all_paths_together_never_carry_the_raw_path_or_a_secret(telemetry: Telemetry) -> None:
    app = close_paths_app(CloseTelemetry(meter_provider=telemetry.meter_provider))
    with TestClient(app) as client:
        for path in CLOSE_PATHS:
            connect(client, path)
    points = telemetry.points("websocket.server.closes")
    assert sum(point.value for point in points) == len(CLOSE_PATHS)
    every_value = repr([dict(point.attributes) for point in points])
    assert ROOM not in every_value
    assert SECRET not in every_value
    assert "kicked" not in every_value


def test_none_is_the_global_meter_provider(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The global provider can be set once per process: stand it in rather than set it.
    monkeypatch.setattr(otel_metrics, "get_meter_provider", lambda: telemetry.meter_provider)
    CloseTelemetry()(record())
    (count,) = telemetry.points("websocket.server.closes")
    assert count.value == 1


def test_with_the_api_alone_nothing_is_recorded_and_nothing_fails() -> None:
    telemetry = CloseTelemetry(meter_provider=NoOpMeterProvider())
    telemetry(record())  # no SDK: no span, no-op instruments
    assert repr(telemetry) == "CloseTelemetry()"


@pytest.mark.parametrize("wrong", ["global", object(), TracerProvider()])
def test_a_wrong_meter_provider_says_what_to_pass(wrong: object) -> None:
    with pytest.raises(TypeError, match=r"meter_provider must be an opentelemetry\.metrics"):
        CloseTelemetry(meter_provider=wrong)  # type: ignore[arg-type]


def test_options_are_keyword_only(telemetry: Telemetry) -> None:
    with pytest.raises(TypeError):
        CloseTelemetry(telemetry.meter_provider)  # type: ignore[misc]


def test_without_opentelemetry_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'asgi-closeguard\[opentelemetry\]'"):
        CloseTelemetry()


# --- the span of OpenTelemetry's ASGI middleware --------------------------------------------


def instrumented(telemetry: Telemetry, app: FastAPI) -> OpenTelemetryMiddleware:
    """OpenTelemetry's ASGI middleware around the whole app, as ``instrument_app`` would put it;
    its own metrics go nowhere."""
    return OpenTelemetryMiddleware(
        app, tracer_provider=telemetry.tracer_provider, meter_provider=NoOpMeterProvider()
    )


@pytest.mark.parametrize("reraise", [True, False], ids=["reraise", "no-reraise"])
@pytest.mark.parametrize("path", CLOSE_PATHS, ids=lambda path: path.name)
def test_the_asgi_middlewares_span_gets_the_close(
    telemetry: Telemetry, path: ClosePath, reraise: bool
) -> None:
    app = close_paths_app(CloseTelemetry(meter_provider=telemetry.meter_provider), reraise=reraise)
    with TestClient(instrumented(telemetry, app)) as client:
        connect(client, path)
    span = telemetry.connection_span()
    ours = {key: value for key, value in span.attributes.items() if key in OUR_KEYS}
    assert ours == expected_attributes(path)
    # Error exactly when the guard closed for an exception: with reraise=False no exception
    # reaches the ASGI middleware, and the span is an error only because CloseTelemetry says so.
    expected_status = StatusCode.ERROR if path.guard_closed_for_exception else StatusCode.UNSET
    assert span.status.status_code is expected_status
    # The metrics point and the span agree.
    (count,) = telemetry.points("websocket.server.closes")
    assert dict(count.attributes) == ours


def test_the_span_attributes_never_carry_a_secret(telemetry: Telemetry) -> None:
    app = close_paths_app(CloseTelemetry(meter_provider=telemetry.meter_provider), reraise=False)
    with TestClient(instrumented(telemetry, app)) as client:
        connect(client, PATHS_BY_NAME["crash"])
    span = telemetry.connection_span()
    assert SECRET not in repr(dict(span.attributes))
    assert SECRET not in str(span.status.description)


# --- the span of FastAPI(telemetry=...) ---------------------------------------------------


@pytest.mark.parametrize("reraise", [True, False], ids=["reraise", "no-reraise"])
@pytest.mark.parametrize("path", CLOSE_PATHS, ids=lambda path: path.name)
def test_fastapis_own_span_gets_the_close(
    telemetry: Telemetry, path: ClosePath, reraise: bool
) -> None:
    app = close_paths_app(
        CloseTelemetry(meter_provider=telemetry.meter_provider),
        reraise=reraise,
        telemetry={
            "tracer_provider": telemetry.tracer_provider,
            "meter_provider": telemetry.meter_provider,
            "logs": False,
        },
    )
    with TestClient(app) as client:
        connect(client, path)
    span = telemetry.connection_span()
    assert span.name.startswith("WS")  # FastAPI's connection span, not the ASGI middleware's
    ours = {key: value for key, value in span.attributes.items() if key in OUR_KEYS}
    assert ours == expected_attributes(path)
    if path.route is not None:
        assert span.attributes["http.route"] == path.route  # FastAPI's name for the same
    expected_status = StatusCode.ERROR if path.guard_closed_for_exception else StatusCode.UNSET
    assert span.status.status_code is expected_status
    (count,) = telemetry.points("websocket.server.closes")
    assert dict(count.attributes) == ours


def test_a_span_that_is_not_recording_is_left_alone(telemetry: Telemetry) -> None:
    tracer = telemetry.tracer_provider.get_tracer("test")
    close_telemetry = CloseTelemetry(meter_provider=telemetry.meter_provider)
    with tracer.start_as_current_span("outer") as outer:
        outer.end()  # ended: no longer recording
        close_telemetry(record(exception=RuntimeError, closed_by="guard", code=1011))
    (span,) = telemetry.exporter.get_finished_spans()
    assert "websocket.closed_by" not in span.attributes
    assert span.status.status_code is StatusCode.UNSET
    (count,) = telemetry.points("websocket.server.closes")
    assert count.attributes["error.type"] == "RuntimeError"


def record(
    *,
    code: int | None = 1000,
    closed_by: str = "guard",
    exception: type[BaseException] | None = None,
    duration: float = 0.5,
) -> CloseRecord:
    return CloseRecord(
        path="/raw/path/1",
        closed_by=closed_by,  # type: ignore[arg-type]
        code=code,
        reason="",
        requested_code=None,
        exception=exception,
        accepted=True,
        http_status=None,
        duration=duration,
        messages_sent=0,
        messages_received=0,
        route=None,
    )
