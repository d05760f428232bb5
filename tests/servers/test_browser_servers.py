"""In a real browser: what Chromium's ``CloseEvent.code`` says behind the guard, per server."""

from __future__ import annotations

import asyncio

import pytest

from tests.servers.browser_checks import BROWSER_CONTRACT, BROWSER_SCENARIOS, observe_browser
from tests.servers.conftest import Started, server_for
from tests.servers.observe import CONFIRMATIONS
from tests.servers.report import BrowserObservations
from tests.support.servers import SERVER_KINDS

pytestmark = [pytest.mark.server, pytest.mark.browser]


@pytest.mark.parametrize("scenario", [scenario.id for scenario in BROWSER_SCENARIOS])
@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_close_event_code_in_chromium(
    kind: str, scenario: str, started_servers: Started, browser_observations: BrowserObservations
) -> None:
    server = server_for(started_servers, kind)
    attempts = [browser_observations[(kind, scenario, "guarded")]]
    while attempts[-1] != BROWSER_CONTRACT[scenario] and len(attempts) <= CONFIRMATIONS:
        # Look again before failing (see observe.CONFIRMATIONS).
        again = asyncio.run(observe_browser({kind: server}))
        attempts.append(again[(kind, scenario, "guarded")])
    assert attempts[-1] == BROWSER_CONTRACT[scenario], f"every attempt: {attempts}"
