"""What docs/frameworks.md says each framework's own test client and log show for a handler
that raises, without the guard and behind it: observed again here."""

from __future__ import annotations

import logging

import pytest

from tests.frameworks.clients import FRAMEWORK_LOGS, OBSERVERS, TEST_CLIENTS, logged, observe


@pytest.mark.parametrize("framework", TEST_CLIENTS)
def test_each_test_client_shows_what_the_docs_say(framework: str) -> None:
    assert observe(framework) == TEST_CLIENTS[framework]


@pytest.mark.parametrize("framework", FRAMEWORK_LOGS)
def test_the_frameworks_own_log_line_gives_way_to_the_servers_traceback(
    framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind the guard the exception is re-raised to the server, which logs it: the
    framework's own line for it is no longer written (Litestar's stays: test_setup.py)."""
    for guarded in (False, True):
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            OBSERVERS[framework](guarded, "/crash")
        assert logged(framework, caplog.records) is not guarded
