"""What docs/frameworks.md says each framework's own test client and log show for a handler
that raises, without the guard and behind it: observed again here."""

from __future__ import annotations

import logging

import pytest

from tests.frameworks.clients import (
    FRAMEWORK_LOGS,
    OBSERVERS,
    TEST_CLIENTS,
    expected,
    logged,
    observe,
)


@pytest.mark.parametrize("framework", TEST_CLIENTS)
def test_each_test_client_shows_what_the_docs_say(framework: str) -> None:
    assert observe(framework) == expected(framework)


@pytest.mark.parametrize("framework", FRAMEWORK_LOGS)
def test_the_frameworks_own_log_line_stays_once(
    framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The framework reports the exception as without the guard: its own line, once."""
    for guarded in (False, True):
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            OBSERVERS[framework](guarded, "/crash")
        assert logged(framework, caplog.records) == 1, guarded
