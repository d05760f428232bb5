"""The texts the "At shutdown" tables are made of, and the log reader, without servers."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.shutdown.clients import ClientEnd
from tests.shutdown.expectations import client_text, handler_text, steady, when
from tests.shutdown.run import error_lines


@pytest.mark.parametrize(
    ("after", "text"),
    [(None, "never"), (0.0, "at once"), (2.4, "at once"), (2.5, "after 2 s"), (3.9, "after 3 s")],
)
def test_when(after: float | None, text: str) -> None:
    assert when(after) == text


@pytest.mark.parametrize(
    ("end", "text"),
    [
        (ClientEnd(code=1012, reason="", at=0.1), "1012 '' at once"),
        (
            ClientEnd(code=4012, reason="Service Restart", at=3.2),
            "4012 'Service Restart' after 3 s",
        ),
        (ClientEnd(no_frame=True, at=0.0), "no close frame (1006) at once"),
        (ClientEnd(rejected="invalid status code", at=0.0), "client fails 1002 at once"),
        (ClientEnd(left_open=True), "left open"),
    ],
)
def test_client_text(end: ClientEnd, text: str) -> None:
    assert client_text(end) == text


@pytest.mark.parametrize(
    ("saw", "ended", "text"),
    [
        ([], [], "never told"),
        (["disconnect 1012"], [("returned", 0.1)], "disconnect 1012, returned at once"),
        (["send raised ClientDisconnected"], [("raised ClientDisconnected", 0.1)],
         "send raised ClientDisconnected at once"),
        (["message 'last words'"], [("cancelled", 3.1)], "cancelled after 3 s"),
        (["disconnect 1005"], [], "disconnect 1005, never resumed"),
    ],
)  # fmt: skip
def test_handler_text(saw: list[str], ended: list[tuple[str, float]], text: str) -> None:
    saw_lines = [{"what": what} for what in saw]
    ended_lines = [{"how": how, "t": t} for how, t in ended]
    assert handler_text(saw_lines, ended_lines) == text


@pytest.mark.parametrize(
    ("kind", "field", "one", "other"),
    [
        ("granian", "app idle", "never told", "disconnect 1005, returned at once"),
        ("granian", "record sent", "server no code ''", "client 1005 ''"),
        ("uvicorn-wsproto", "chromium sent", "1012", "1006"),
        ("uvicorn-wsproto", "app sent", "disconnect 1012, returned at once",
         "raised ClientDisconnected at once"),
        ("uvicorn-websockets", "wasClean raw", "clean", "unclean"),
        ("daphne", "wasClean guarded", "clean", "clean or not"),
    ],
)  # fmt: skip
def test_known_races_read_the_same_whichever_way_they_went(
    kind: str, field: str, one: str, other: str
) -> None:
    assert steady(kind, field, one) == steady(kind, field, other)
    assert steady(kind, field, one) != one


@pytest.mark.parametrize(
    ("kind", "field", "text"),
    [
        ("granian", "app stream", "never told"),
        ("uvicorn-wsproto", "chromium idle", "1006"),
        ("uvicorn-wsproto", "app idle", "disconnect 1012, returned at once"),
        ("daphne", "wasClean raw", "unclean"),
        ("hypercorn", "app idle", "never told"),
    ],
)
def test_everything_else_reads_as_it_was(kind: str, field: str, text: str) -> None:
    assert steady(kind, field, text) == text


def test_error_lines_are_counted_without_what_changes_between_runs() -> None:
    output = "\n".join(
        [
            "INFO:     Shutting down",
            "ERROR:    Exception in ASGI application",
            "Traceback (most recent call last):",
            '  File "x.py", line 1, in <module>',
            "uvicorn.protocols.utils.ClientDisconnected",
            "[2026-11-30 12:00:00 +0000] [4242] [ERROR] Error in ASGI Framework",
            "Traceback (most recent call last):",
            '  File "x.py", line 2, in f',
            "asyncio.exceptions.CancelledError",
            "2026-11-30 12:00:00,000 CRITICAL While calling system event trigger handler",
            "Task exception was never retrieved",
            "2026-11-30 12:00:00,000 ERROR    Cancel 3 running task(s), timeout exceeded",
        ]
    )
    assert error_lines(output) == Counter(
        {
            "Exception in ASGI application": 1,
            "traceback: uvicorn.protocols.utils.ClientDisconnected": 1,
            "Error in ASGI Framework": 1,
            "traceback: asyncio.exceptions.CancelledError": 1,
            "While calling system event trigger handler": 1,
            "Task exception was never retrieved": 1,
            "Cancel # running task(s), timeout exceeded": 1,
        }
    )
