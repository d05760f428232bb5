"""OpenTelemetry metrics and span attributes for every WebSocket close, in one line.

>>> from asgi_closeguard.opentelemetry import CloseTelemetry
>>> app.add_middleware(CloseGuardMiddleware, on_close=CloseTelemetry())  # doctest: +SKIP

Needs ``opentelemetry-api``: ``pip install 'asgi-closeguard[opentelemetry]'``. Importing this
module does not import it; creating a :class:`CloseTelemetry` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ._integrations import DURATION_BUCKETS, OpenConnections, exception_name
from ._record import CloseRecord

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, MeterProvider, UpDownCounter
    from opentelemetry.trace import Status

__all__ = ["CloseTelemetry"]

# The counter: one per closed connection.
_CLOSES: Final = "websocket.server.closes"
# The histogram: how long each connection lasted, in seconds.
_CONNECTION_DURATION: Final = "websocket.server.connection.duration"
# The up-down counter: the connections open now. A pipeline that ends in Prometheus names it
# websocket_server_connections, as CloseMetrics names its gauge.
_CONNECTIONS: Final = "websocket.server.connections"
# The close code on the wire, an int; absent when no close frame went out.
_ATTRIBUTE_CLOSE_CODE: Final = "websocket.close.code"
# Who ended the connection: ``client``, ``app``, ``guard`` or ``server``.
_ATTRIBUTE_CLOSED_BY: Final = "websocket.closed_by"
# The qualified name of the exception the app raised; absent when it raised none.
_ATTRIBUTE_ERROR_TYPE: Final = "error.type"
# The path template of the route that served the connection; absent when unknown.
_ATTRIBUTE_ROUTE: Final = "route"
_INSTRUMENTATION_NAME: Final = "asgi_closeguard"
_INSTALL_HINT: Final = (
    "CloseTelemetry needs opentelemetry-api: pip install 'asgi-closeguard[opentelemetry]'"
)


class CloseTelemetry:
    """An ``on_close`` callable that records every WebSocket close with OpenTelemetry.

    Per connection it records, on a meter named ``asgi_closeguard``:

    - ``websocket.server.closes``, a counter (unit ``{close}``), and
      ``websocket.server.connection.duration``, a histogram of the connection's duration
      (unit ``s``), both with the attributes ``websocket.close.code`` (the close code on the
      wire, an int; absent when no close frame went out: the handshake was answered with
      HTTP, or the connection was already gone), ``websocket.closed_by`` (``client``, ``app``,
      ``guard``, ``server``), ``error.type`` (the qualified name of the exception the app
      raised, ``"RuntimeError"`` or ``"myapp.errors.QuotaExceeded"``; absent when it raised
      none) and ``route`` (the route's path template, ``/rooms/{room}``, where the framework
      records it, as Starlette and FastAPI do; absent otherwise, never the raw path);
    - the same attributes on the current span, when it is recording: the connection's span of
      OpenTelemetry's ASGI middleware, or of ``FastAPI(telemetry=...)``, when they wrap the
      guard. When the guard closed for an exception (a crash, a mapped exception), that span's
      status is set to error, even with ``reraise=False``, when no exception reaches them;
    - ``websocket.server.connections``, an up-down counter (unit ``{connection}``) of the
      connections open now (accepted, not yet ended), with the attribute ``route`` when it is
      known: what a drain brings down to zero. The guard tells it of each accept through
      :meth:`connection_opened`, and the connection's record brings it down again.

    Neither the close reason nor the exception's text is recorded.

    Args:
        meter_provider: the ``opentelemetry.metrics.MeterProvider`` to record with; ``None``
            for the global one (``opentelemetry.metrics.get_meter_provider()``), which may be
            set after this is created.

    Raises:
        ImportError: opentelemetry-api is not installed.
        TypeError: ``meter_provider`` is not a ``MeterProvider``.
    """

    __slots__ = (
        "_closes",
        "_connections",
        "_duration",
        "_error_status",
        "_get_current_span",
        "_open",
    )

    def __init__(self, *, meter_provider: MeterProvider | None = None) -> None:
        metrics, trace = _import_opentelemetry()
        if meter_provider is None:
            # The global provider: a proxy until the SDK sets the real one, and it forwards
            # to that one from then on, so the order of setup does not matter.
            meter_provider = metrics.get_meter_provider()
        elif not isinstance(meter_provider, metrics.MeterProvider):
            raise TypeError(
                "meter_provider must be an opentelemetry.metrics.MeterProvider (such as "
                "opentelemetry.sdk.metrics.MeterProvider(metric_readers=[...])), or None for "
                f"the global one, not {meter_provider!r}"
            )
        from . import __version__

        meter = meter_provider.get_meter(_INSTRUMENTATION_NAME, __version__)
        self._closes: Counter = meter.create_counter(
            _CLOSES,
            unit="{close}",
            description="WebSocket connections closed, by close code, who closed, the "
            "exception the app raised and the route.",
        )
        self._duration: Histogram = meter.create_histogram(
            _CONNECTION_DURATION,
            unit="s",
            description="How long WebSocket connections lasted, from the start of the app to "
            "the close.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._connections: UpDownCounter = meter.create_up_down_counter(
            _CONNECTIONS,
            unit="{connection}",
            description="WebSocket connections open now (accepted, not yet ended), by route.",
        )
        self._open = OpenConnections("CloseTelemetry")
        self._get_current_span = trace.get_current_span
        self._error_status: Status = trace.Status(trace.StatusCode.ERROR)

    def connection_opened(self, route: str | None) -> None:
        """Count one more open connection on ``route``: the guard calls it after each accept."""
        self._open.opened(route)
        self._connections.add(1, _route_attributes(route))

    def __call__(self, record: CloseRecord) -> None:
        """Record one close: the ``on_close`` callback."""
        attributes: dict[str, str | int] = {_ATTRIBUTE_CLOSED_BY: record.closed_by}
        if record.code is not None:
            attributes[_ATTRIBUTE_CLOSE_CODE] = record.code
        if record.exception is not None:
            attributes[_ATTRIBUTE_ERROR_TYPE] = exception_name(record.exception)
        if record.route is not None:
            attributes[_ATTRIBUTE_ROUTE] = record.route
        span = self._get_current_span()
        if span.is_recording():
            span.set_attributes(attributes)
            if record.closed_by == "guard" and record.exception is not None:
                span.set_status(self._error_status)
        self._closes.add(1, attributes)
        self._duration.record(record.duration, attributes)
        if record.accepted and self._open.closed(record.route):
            self._connections.add(-1, _route_attributes(record.route))

    def __repr__(self) -> str:
        return "CloseTelemetry()"


def _route_attributes(route: str | None) -> dict[str, str]:
    return {} if route is None else {_ATTRIBUTE_ROUTE: route}


def _import_opentelemetry() -> tuple[Any, Any]:
    try:
        from opentelemetry import metrics, trace
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return metrics, trace
