"""What the Prometheus and OpenTelemetry integrations share: how a close becomes a label."""

from __future__ import annotations

from typing import Final

__all__ = ["DURATION_BUCKETS", "exception_name"]

#: Upper bounds, in seconds, for the histograms of connection durations. A WebSocket lives from
#: milliseconds (a refused handshake) to hours (a dashboard left open), so the bounds grow by
#: about a factor of three up to eight hours.
DURATION_BUCKETS: Final = (
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    28800.0,
)


def exception_name(exception: type[BaseException]) -> str:
    """The exception type's canonical name: ``"RuntimeError"`` for a builtin,
    ``"myapp.errors.QuotaExceeded"`` otherwise.

    OpenTelemetry's ``error.type`` takes this spelling, and FastAPI's own telemetry writes it on
    the same span, so the two agree instead of overwriting each other.
    """
    if exception.__module__ == "builtins":
        return exception.__qualname__
    return f"{exception.__module__}.{exception.__qualname__}"
