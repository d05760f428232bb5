"""The demo in a real browser: Debian's Chromium, driven by Playwright, against a real uvicorn.

The page runs the crash scenario both ways and must show what the browser's own CloseEvent
says: 1006 and ``wasClean: false`` raw, 1011 "Internal Error" and ``wasClean: true`` guarded —
with no JavaScript error on the way — explained by closeguard.js with what a reconnecting client
does. The restart scenario's client (closeguard.js's connect()) must come back by itself after
1012, and not after 1000.
The screenshots it saves (docs/img/demo.png, the playground; docs/img/demo-closes.png, the live
panel's chart) are the ones the README shows.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from asgi_closeguard import describe
from asgi_closeguard._knowledge import interface_texts
from demo_app.chrome import chrome
from tests.support.browser import chromium, websocket_close_event
from tests.support.servers import REPO_ROOT, Server, run_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.server]

SCREENSHOTS = REPO_ROOT / "docs" / "img"
#: ``python -m demo_app`` serves with ``--ws auto``, which is websockets-sansio on uvicorn 0.54.
KIND = "uvicorn-websockets-sansio"
#: Generous bounds for a slow, shared machine; nothing here measures speed.
WAIT_MS = 10_000


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server(KIND, "demo_app.app:app", ready_path="/api/closes") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


class PageErrors:
    """Every JavaScript error a page reports: uncaught exceptions and console errors."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))
        page.on(
            "console",
            lambda message: (
                self.messages.append(f"console.{message.type}: {message.text}")
                if message.type in ("error", "assert")
                else None
            ),
        )


def first_sentence(text: str) -> str:
    """The one-line explanation the page shows: the summary's first sentence."""
    match = re.match(r"(.+?[.!?])(\s|$)", text, re.DOTALL)
    return match.group(1) if match else text


def run_scenario(page: Page, scenario: str) -> None:
    """Click the scenario's Run button and wait until both sides show a result."""
    card = page.locator(f'.scenario[data-scenario="{scenario}"]')
    card.locator("button.run").click()
    for side in ("raw", "guarded"):
        card.locator(f".result--{side}[data-code] .result__more").wait_for(timeout=WAIT_MS)


def shown(page: Page, scenario: str, side: str) -> dict[str, str]:
    """What the page shows for one side of one scenario."""
    cell = page.locator(f'.scenario[data-scenario="{scenario}"] .result--{side}')
    return {
        "code": cell.locator(".result__code").inner_text(),
        "name": cell.locator(".result__name").inner_text(),
        "wasClean": cell.locator(".badge").inner_text(),
        "reason": cell.locator(".result__reason").inner_text(),
        "explain": cell.locator(".result__explain").inner_text(),
        "reconnect": cell.locator(".result__reconnect").inner_text(),
        "reconnect_kind": cell.get_attribute("data-reconnect") or "",
    }


def reconnect_line(code: int, lang: str = "en") -> str:
    """The line the page shows under a close: what a reconnecting client does after it."""
    description = describe(code, lang)
    words = interface_texts(lang)
    return (
        f"{words['reconnect']}: {words['reconnect_' + description.reconnect]} "
        f"{description.reconnect_text}"
    )


def test_crash_shows_1006_raw_and_1011_guarded(server: Server, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = PageErrors(page)
    page.goto(server.http_url("/"))

    # What the browser itself reports, without the page's help...
    raw_event = websocket_close_event(page, server.ws_url("/raw/ws/crash"))
    guarded_event = websocket_close_event(page, server.ws_url("/guarded/ws/crash"))
    assert (raw_event["code"], raw_event["wasClean"]) == (1006, False)
    assert (guarded_event["code"], guarded_event["wasClean"], guarded_event["reason"]) == (
        1011,
        True,
        "Internal Error",
    )

    # ...is what the page shows, with the knowledge API's words for each code.
    run_scenario(page, "crash")
    raw, guarded = shown(page, "crash", "raw"), shown(page, "crash", "guarded")
    assert raw["code"] == "1006"
    assert raw["name"] == describe(1006).name
    assert raw["wasClean"] == "wasClean: false"
    assert raw["explain"] == first_sentence(describe(1006).summary)
    assert guarded["explain"] == first_sentence(describe(1011).summary)
    assert guarded["code"] == "1011"
    assert guarded["name"] == describe(1011).name
    assert guarded["wasClean"] == "wasClean: true"
    assert "Internal Error" in guarded["reason"]
    assert (raw["reconnect"], raw["reconnect_kind"]) == (reconnect_line(1006), "backoff")
    assert (guarded["reconnect"], guarded["reconnect_kind"]) == (reconnect_line(1011), "backoff")

    # The live panel picks the guarded closes up without a reload.
    page.wait_for_function(
        "Number(document.getElementById('closes-total').textContent) >= 2", timeout=WAIT_MS
    )
    labels = page.locator("#closes-chart .chart__label").all_text_contents()
    assert "1011" in labels

    # Two more rows for the picture, checked too: return and mapped.
    run_scenario(page, "return")
    run_scenario(page, "mapped")
    assert [shown(page, "return", side)["code"] for side in ("raw", "guarded")] == ["1006", "1000"]
    assert [shown(page, "mapped", side)["code"] for side in ("raw", "guarded")] == ["1006", "1013"]

    assert errors.messages == []
    save_screenshot(page, SCREENSHOTS / "demo.png")
    # The live panel, once it counted the four guarded closes above.
    page.wait_for_function(
        "Number(document.getElementById('closes-total').textContent) >= 4", timeout=WAIT_MS
    )
    # Only the chart: the table beside it shows clock times, and a picture that changed on
    # every run would leave the working tree dirty after each test run.
    page.locator(".closes__chart").screenshot(path=str(SCREENSHOTS / "demo-closes.png"))
    page.close()


def test_korean_page_runs_the_crash_in_korean(server: Server, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="ko-KR")
    errors = PageErrors(page)
    page.goto(server.http_url("/?lang=ko"))
    assert page.locator("html").get_attribute("lang") == "ko"
    run_scenario(page, "crash")
    raw, guarded = shown(page, "crash", "raw"), shown(page, "crash", "guarded")
    assert (raw["code"], raw["name"]) == ("1006", describe(1006, "ko").name)
    assert (guarded["code"], guarded["name"]) == ("1011", describe(1011, "ko").name)
    assert chrome("ko")["reason"] in guarded["reason"]
    assert guarded["explain"] == first_sentence(describe(1011, "ko").summary)
    assert guarded["reconnect"] == reconnect_line(1011, "ko")
    assert errors.messages == []
    page.close()


def restart_connections(page: Page, side: str) -> list[tuple[str | None, str | None]]:
    """Each connection the restart scenario's client made: (close code, reconnect), in order."""
    items = page.locator(f'.scenario[data-scenario="restart"] .result--{side} .result__attempt')
    return [
        (item.get_attribute("data-code"), item.get_attribute("data-reconnect"))
        for item in items.all()
    ]


def guarded_restart_closes(server: Server) -> list[int]:
    """The codes the guard recorded for /guarded/ws/restart, oldest first."""
    with urllib.request.urlopen(server.http_url("/api/closes"), timeout=10) as response:
        records = json.load(response)["records"]
    return [r["code"] for r in reversed(records) if r["path"] == "/guarded/ws/restart"]


def test_restart_reconnects_after_1012_and_not_after_1000(server: Server, browser: Browser) -> None:
    # One language is enough here: the Korean crash test reads the Korean explanations.
    lang = "en"
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = PageErrors(page)
    page.goto(server.http_url(f"/?lang={lang}"))
    before = len(guarded_restart_closes(server))

    run_scenario(page, "restart")
    for side in ("raw", "guarded"):
        assert restart_connections(page, side) == [("1012", "yes"), ("1000", "no")]
        final = shown(page, "restart", side)
        assert (final["code"], final["reconnect"]) == ("1000", reconnect_line(1000, lang))
        assert final["name"] == describe(1000, lang).name

    # No third connection: wait longer than connect()'s longest delay after "yes" (1.5 s),
    # then count what reached the guarded server.
    page.wait_for_timeout(1600)
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(guarded_restart_closes(server)) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert guarded_restart_closes(server)[before:] == [1012, 1000]
    cell = page.locator('.scenario[data-scenario="restart"] .result--guarded')
    assert cell.get_attribute("data-connections") == "2"
    assert errors.messages == []
    page.close()


def save_screenshot(page: Page, path: Path) -> None:
    """The top of the page, where the playground is: the picture the README shows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=False)
