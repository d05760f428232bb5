"""What Chromium's ``CloseEvent`` says, raw and guarded, on every server.

:func:`observe_browser` opens one page per server (served by the app itself, so the WebSocket
is same-origin) and runs every :data:`BROWSER_SCENARIOS` row on both sides at once; a socket no
one closes costs its timeout once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tests.servers.observe import SIDES, Side
from tests.support.browser import async_chromium, async_websocket_close_event
from tests.support.servers import Server

#: A socket still open this long is reported as "open".
BROWSER_LEFT_OPEN_AFTER = 4.0


@dataclass(frozen=True)
class BrowserScenario:
    """One row of the browser table."""

    id: str
    title: str
    path: str


BROWSER_SCENARIOS: tuple[BrowserScenario, ...] = (
    BrowserScenario("crash", "app raises after accept", "crash"),
    BrowserScenario("return", "app returns after accept", "return"),
    BrowserScenario("close-1005", "close(1005, 'why')", "close?code=1005&reason=why"),
)

#: What ``CloseEvent.code`` must be behind the guard, on every server.
BROWSER_CONTRACT: dict[str, str] = {"crash": "1011", "return": "1000", "close-1005": "1000"}

BrowserKey = tuple[str, str, Side]  # (server kind, scenario id, side)


def close_event_text(event: dict[str, object]) -> str:
    """``CloseEvent.code`` as text, or "open" when nothing closed the socket in time."""
    if event.get("timeout"):
        return "open" if event.get("opened") else "never opened"
    return str(event.get("code"))


async def _observe_server(browser: object, server: Server) -> dict[BrowserKey, str]:
    page = await browser.new_page()  # type: ignore[attr-defined]
    try:
        await page.goto(server.http_url("/"))
        keys: list[BrowserKey] = [
            (server.kind, scenario.id, side) for scenario in BROWSER_SCENARIOS for side in SIDES
        ]
        urls = [
            server.ws_url(f"/{side}/{scenario.path}")
            for scenario in BROWSER_SCENARIOS
            for side in SIDES
        ]
        events = await asyncio.gather(
            *(
                async_websocket_close_event(page, url, timeout=BROWSER_LEFT_OPEN_AFTER)
                for url in urls
            )
        )
    finally:
        await page.close()
    return {key: close_event_text(event) for key, event in zip(keys, events, strict=True)}


async def observe_browser(servers: dict[str, Server]) -> dict[BrowserKey, str]:
    """``CloseEvent.code`` for every browser scenario, side and server, in one Chromium."""
    async with async_chromium() as browser:
        results = await asyncio.gather(
            *(_observe_server(browser, server) for server in servers.values())
        )
    merged: dict[BrowserKey, str] = {}
    for result in results:
        merged.update(result)
    return merged
