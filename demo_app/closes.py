"""What the guard reported: the last 100 close records and counts by code.

One :class:`CloseLog` per app (see :func:`demo_app.app.create_app`), fed by the
``on_close`` callback of the guarded mount. The Prometheus metrics come from
``asgi_closeguard.prometheus.CloseMetrics``, the mount's other ``on_close`` callback.
"""

from __future__ import annotations

import collections
from datetime import datetime, timezone
from typing import Any, Final

from asgi_closeguard import CloseRecord

__all__ = ["RECENT_RECORDS", "CloseLog", "close_label", "record_as_json"]

#: How many records ``/api/closes`` keeps: enough for the panel, bounded for a long-lived demo.
RECENT_RECORDS: Final = 100


def close_label(record: CloseRecord) -> str:
    """The code a record is counted under: ``"1011"``, or ``"http-500"`` when the handshake
    was answered with HTTP instead of a WebSocket close (the record has no close code then)."""
    if record.code is not None:
        return str(record.code)
    if record.http_status is not None:
        return f"http-{record.http_status}"
    return "none"


def _exception_name(exception: type[BaseException] | None) -> str | None:
    if exception is None:
        return None
    if exception.__module__ == "builtins":
        return exception.__qualname__
    return f"{exception.__module__}.{exception.__qualname__}"


def _json_code(value: object) -> int | str | None:
    # `requested_code` is whatever the app passed: an int, None, or garbage of any type.
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return repr(value)


def record_as_json(record: CloseRecord, at: datetime) -> dict[str, Any]:
    """A :class:`CloseRecord` as a JSON-able dict, stamped with when it arrived."""
    return {
        "time": at.isoformat(timespec="milliseconds"),
        "path": record.path,
        "label": close_label(record),
        "code": record.code,
        "reason": record.reason,
        "closed_by": record.closed_by,
        "requested_code": _json_code(record.requested_code),
        "exception": _exception_name(record.exception),
        "accepted": record.accepted,
        "http_status": record.http_status,
        "duration_ms": round(record.duration * 1000, 3),
        "messages_sent": record.messages_sent,
        "messages_received": record.messages_received,
    }


class CloseLog:
    """The guard's close records for one app: recent ones and counts by code.

    :meth:`record` is the ``on_close`` callback. It runs on the event loop, as do the routes
    that read the log, so plain containers need no lock.
    """

    def __init__(self) -> None:
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT_RECORDS)
        self._counts: collections.Counter[str] = collections.Counter()

    def record(self, record: CloseRecord) -> None:
        """Keep one record: the ``on_close`` callback of the guarded mount."""
        label = close_label(record)
        self._recent.append(record_as_json(record, datetime.now(timezone.utc)))
        self._counts[label] += 1

    def snapshot(self) -> dict[str, Any]:
        """What ``/api/closes`` returns: the total, counts by code, the recent records (newest
        first)."""
        return {
            "total": sum(self._counts.values()),
            "counts": dict(sorted(self._counts.items(), key=lambda item: _label_order(item[0]))),
            "records": list(reversed(self._recent)),
        }


def _label_order(label: str) -> tuple[int, str]:
    # Codes in numeric order, then the HTTP answers.
    return (int(label), "") if label.isdigit() else (1 << 20, label)
