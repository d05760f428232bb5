"""``docs/servers.md`` beyond its generated tables: the browser races, and the versions.

The races are what Chromium sees when a server ends the TCP connection early
(``python -m tests.servers.race`` measures how often). Their frequency changes with the load of
the machine, so these tests check what holds every time: behind the guard hypercorn never loses
the close frame, granian loses none without a message in flight, daphne never ends clean. The
page's versions line must name the versions installed: a page measured with other servers is
stale even where no cell changed.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections import Counter
from importlib import metadata

import pytest

from tests.servers.report import (
    DOC_PATH,
    VARYING_BROWSER,
    VERSIONS_PREFIX,
    changed_versions,
    versions,
    versions_of,
)
from tests.support.browser import async_chromium, async_websocket_close_event, chromium_path
from tests.support.servers import Server, run_server

#: The race app's endpoint: close with 4000 and a reason, then return at once.
CLOSE_AND_RETURN = "close?code=4000&reason=why&then=return"
FIVE_IN_FLIGHT = ("a" * 100,) * 5
TRIES = 20


async def close_events(
    server: Server, side: str, messages: tuple[str, ...], tries: int = TRIES
) -> Counter[tuple[object, object]]:
    """``(CloseEvent.code, wasClean)`` of ``tries`` closes in Chromium, counted."""
    seen: Counter[tuple[object, object]] = Counter()
    async with async_chromium() as browser:
        page = await browser.new_page()
        await page.goto(server.http_url("/"))
        for _ in range(tries):
            event = await async_websocket_close_event(
                page, server.ws_url(f"/{side}/{CLOSE_AND_RETURN}"), messages=messages
            )
            seen[(event.get("code"), event.get("wasClean"))] += 1
    return seen


def _codes(seen: Counter[tuple[object, object]]) -> set[object]:
    return {code for code, _ in seen}


@pytest.mark.server
@pytest.mark.browser
def test_behind_the_guard_hypercorn_never_loses_the_close_in_chromium() -> None:
    with run_server("hypercorn", "tests.servers.apps:app", ready_path="/health") as server:
        seen = asyncio.run(close_events(server, "guarded", FIVE_IN_FLIGHT))
    assert _codes(seen) == {4000}, seen


@pytest.mark.server
@pytest.mark.browser
def test_granian_loses_no_close_frame_without_a_message_in_flight() -> None:
    with run_server("granian", "tests.servers.apps:app", ready_path="/health") as server:
        for side in ("raw", "guarded"):
            seen = asyncio.run(close_events(server, side, ()))
            assert _codes(seen) == {4000}, (side, seen)


@pytest.mark.server
@pytest.mark.browser
def test_daphne_ends_every_connection_unclean_in_chromium() -> None:
    with run_server("daphne", "tests.servers.apps:app", ready_path="/health") as server:
        for side in ("raw", "guarded"):
            seen = asyncio.run(close_events(server, side, (), tries=10))
            assert {clean for _, clean in seen} == {False}, (side, seen)
            # The reset that ends it can, rarely, reach Chromium before the close frame.
            assert _codes(seen) <= {4000, 1006}, (side, seen)


def test_every_varying_browser_cell_is_explained_on_the_page() -> None:
    page = DOC_PATH.read_text(encoding="utf-8")
    for values, shown in VARYING_BROWSER.values():
        assert len(values) > 1
        assert shown in page, shown


# --- versions ----------------------------------------------------------------------------------


def test_a_changed_version_is_named() -> None:
    before = f"{VERSIONS_PREFIX} uvicorn 0.54.0, daphne 4.2.3, Chromium 156.0."
    after = f"{VERSIONS_PREFIX} uvicorn 0.55.0, daphne 4.2.3."
    assert versions_of(before) == {"uvicorn": "0.54.0", "daphne": "4.2.3", "Chromium": "156.0"}
    assert changed_versions(before, after) == ["uvicorn: 0.54.0 -> 0.55.0"]
    assert changed_versions(before, before) == []


def _chromium_version() -> str:
    output = subprocess.run(
        [chromium_path(), "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    found = re.search(r"(\d+(?:\.\d+)+)", output)
    assert found, output
    return found.group(1)


@pytest.mark.server  # the versions of the main environment, where the servers run
def test_servers_md_was_measured_with_the_installed_versions() -> None:
    page = DOC_PATH.read_text(encoding="utf-8")
    assert versions_of(page)  # the page has its versions line
    installed = versions(_chromium_version())
    changed = changed_versions(page, installed)
    assert changed == [], "regenerate docs/servers.md with `python -m tests.servers.report`"
    assert versions_of(page)["uvicorn"] == metadata.version("uvicorn")
