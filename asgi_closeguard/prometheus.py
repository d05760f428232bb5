"""Prometheus metrics for every WebSocket close, in one line.

>>> from asgi_closeguard.prometheus import CloseMetrics
>>> app.add_middleware(CloseGuardMiddleware, on_close=CloseMetrics())  # doctest: +SKIP

Needs ``prometheus_client``: ``pip install 'asgi-closeguard[prometheus]'``. Importing this
module does not import it; creating a :class:`CloseMetrics` does.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ._integrations import DURATION_BUCKETS, OpenConnections, exception_name
from ._record import CloseRecord

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["CloseMetrics"]

# The counter's name as Prometheus exposes it (``_total`` included).
_CLOSES_TOTAL: Final = "websocket_server_closes_total"
# The histogram's name (its series end in ``_bucket``, ``_count`` and ``_sum``).
_CONNECTION_DURATION_SECONDS: Final = "websocket_server_connection_duration_seconds"
# The gauge of the connections open now.
_CONNECTIONS: Final = "websocket_server_connections"
_CLOSES_LABELS: Final = ("code", "closed_by", "exception", "route")
_DURATION_LABELS: Final = ("closed_by", "route")
_CONNECTIONS_LABELS: Final = ("route",)
# With several worker processes (prometheus_client's multiprocess mode) the gauge is the sum
# over the workers alive: a worker that died takes its connections with it once the server
# marks it dead (multiprocess.mark_process_dead). Outside multiprocess mode this is ignored.
_CONNECTIONS_MULTIPROCESS_MODE: Final = "livesum"
_INSTALL_HINT: Final = (
    "CloseMetrics needs prometheus_client: pip install 'asgi-closeguard[prometheus]'"
)

# The collectors made for each registry, so that a second CloseMetrics on the same registry
# shares them instead of failing on prometheus_client's duplicate-name check. Weak keys: a
# registry that is dropped (one per test, per app) takes its collectors with it.
_Collectors: TypeAlias = "tuple[Counter, Histogram, Gauge]"
_collectors: weakref.WeakKeyDictionary[CollectorRegistry, _Collectors] = weakref.WeakKeyDictionary()
# Apps built on several threads at once may create CloseMetrics concurrently.
_collectors_lock = threading.Lock()


class CloseMetrics:
    """An ``on_close`` callable that counts every WebSocket close for Prometheus.

    It keeps, in ``registry`` (prometheus_client's default ``REGISTRY`` when ``None``):

    - ``websocket_server_closes_total``, a counter with the labels ``code`` (the close code on
      the wire, ``"1011"``; ``"none"`` when no close frame went out: the handshake was answered
      with HTTP, or the connection was already gone), ``closed_by`` (``client``, ``app``,
      ``guard``, ``server``), ``exception`` (the qualified name of the exception the app raised,
      ``"RuntimeError"`` or ``"myapp.errors.QuotaExceeded"``; ``""`` when none) and ``route``;
    - ``websocket_server_connection_duration_seconds``, a histogram of how long each connection
      lasted, with the labels ``closed_by`` and ``route``;
    - ``websocket_server_connections``, a gauge of the connections open now (accepted, not yet
      ended), with the label ``route``: what a drain brings down to zero. The guard tells the
      gauge of each accept through :meth:`connection_opened`, and the connection's record
      brings it down again. In prometheus_client's multiprocess mode it is summed over the
      live workers (``multiprocess_mode="livesum"``).

    ``route`` is the path template of the route that served the connection (``/rooms/{room}``)
    where the framework records it, as Starlette and FastAPI do, and ``""`` otherwise: never
    the raw path, which would make one series per URL. Neither the close reason nor the
    exception's text becomes a label.

    Creating it again on the same registry reuses the same three metrics (registering them again
    if they were unregistered meanwhile), so building an app twice (in tests, on reload) does
    not fail; two of them on one guard count every close twice.

    Args:
        registry: the ``prometheus_client.CollectorRegistry`` to register the metrics in;
            ``None`` for prometheus_client's default ``REGISTRY``, the one ``make_asgi_app()``
            and ``start_http_server()`` expose.

    Raises:
        ImportError: prometheus_client is not installed.
        TypeError: ``registry`` is not a ``CollectorRegistry``.
        ValueError: the registry already has a metric of one of these names that
            ``CloseMetrics`` did not create.
    """

    __slots__ = ("_closes", "_connections", "_duration", "_open", "registry")

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        prometheus_client = _import_prometheus_client()
        if registry is None:
            registry = prometheus_client.REGISTRY
        elif not isinstance(registry, prometheus_client.CollectorRegistry):
            raise TypeError(
                "registry must be a prometheus_client.CollectorRegistry, or None for the "
                f"default REGISTRY, not {registry!r}"
            )
        #: The registry the metrics live in.
        self.registry: CollectorRegistry = registry
        self._closes, self._duration, self._connections = _collectors_for(
            registry, prometheus_client
        )
        self._open = OpenConnections("CloseMetrics")

    def connection_opened(self, route: str | None) -> None:
        """Count one more open connection on ``route``: the guard calls it after each accept."""
        self._open.opened(route)
        self._connections.labels(route or "").inc()

    def __call__(self, record: CloseRecord) -> None:
        """Count one close: the ``on_close`` callback."""
        closed_by = record.closed_by
        route = record.route or ""
        self._closes.labels(
            "none" if record.code is None else str(record.code),
            closed_by,
            "" if record.exception is None else exception_name(record.exception),
            route,
        ).inc()
        self._duration.labels(closed_by, route).observe(record.duration)
        if record.accepted and self._open.closed(record.route):
            self._connections.labels(route).dec()

    def __repr__(self) -> str:
        return f"CloseMetrics(registry={self.registry!r})"


def _import_prometheus_client() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return prometheus_client


def _collectors_for(registry: CollectorRegistry, prometheus_client: Any) -> _Collectors:
    with _collectors_lock:
        found = _collectors.get(registry)
        if found is not None:
            for collector in found:
                # Put back what was unregistered since; a collector still there is refused
                # as a duplicate, which is the usual case and changes nothing.
                with contextlib.suppress(ValueError):
                    registry.register(collector)
            return found
        closes = prometheus_client.Counter(
            "websocket_server_closes",
            "WebSocket connections closed, by the close code on the wire (none: no close "
            "frame went out), who closed, the exception the app raised and the route.",
            labelnames=_CLOSES_LABELS,
            registry=None,  # registered below, both or neither
        )
        duration = prometheus_client.Histogram(
            _CONNECTION_DURATION_SECONDS,
            "How long WebSocket connections lasted, from the start of the app to the close, "
            "by who closed and the route.",
            labelnames=_DURATION_LABELS,
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        connections = prometheus_client.Gauge(
            _CONNECTIONS,
            "WebSocket connections open now (accepted, not yet ended), by route.",
            labelnames=_CONNECTIONS_LABELS,
            multiprocess_mode=_CONNECTIONS_MULTIPROCESS_MODE,
            registry=None,
        )
        collectors: _Collectors = (closes, duration, connections)
        names = (_CLOSES_TOTAL, _CONNECTION_DURATION_SECONDS, _CONNECTIONS)
        registered: list[Any] = []
        for metric, name in zip(collectors, names, strict=True):
            try:
                registry.register(metric)
            except ValueError as exc:
                # Leave the registry as it was: all three metrics or none.
                for done in registered:
                    registry.unregister(done)
                raise ValueError(_taken(name)) from exc
            registered.append(metric)
        _collectors[registry] = collectors
        return collectors


def _taken(name: str) -> str:
    return (
        f"this registry already has a metric named {name} that CloseMetrics did not create; "
        "pass CloseMetrics(registry=...) a registry of its own, or unregister that metric"
    )
