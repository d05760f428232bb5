"""In a real browser: what Chromium's ``CloseEvent.code`` says behind the guard, per server."""

from __future__ import annotations

import pytest

from tests.servers.browser_checks import BROWSER_CONTRACT, BROWSER_SCENARIOS
from tests.servers.conftest import Started, server_for
from tests.servers.report import BrowserObservations
from tests.support.servers import SERVER_KINDS

pytestmark = [pytest.mark.server, pytest.mark.browser]


@pytest.mark.parametrize("scenario", [scenario.id for scenario in BROWSER_SCENARIOS])
@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_close_event_code_in_chromium(
    kind: str, scenario: str, started_servers: Started, browser_observations: BrowserObservations
) -> None:
    server_for(started_servers, kind)
    assert browser_observations[(kind, scenario, "guarded")] == BROWSER_CONTRACT[scenario]
