"""The demo in a real browser: Debian's Chromium, driven by Playwright, against a real uvicorn.

The page runs the crash scenario both ways and must show what the browser's own CloseEvent
says: 1006 and ``wasClean: false`` raw, 1011 "Internal Error" and ``wasClean: true`` guarded —
with no JavaScript error on the way — explained by closeguard.js with what a reconnecting client
does. The restart scenario's client (closeguard.js's connect()) must come back by itself after
1012, and not after 1000. The deploy card's clients must get 1012 all in one instant raw, and
spread over the drain guarded, and all come back; the login card must show 1006, 1006 and the
app's 4401.
The screenshots it saves (docs/img/demo.png, the playground; docs/img/demo-closes.png, the live
panel's chart) are the ones the README shows. The deploy and login cards' pictures
(docs/img/demo-deploy.png, docs/img/demo-login.png) change on every run, since connect() waits a
random time before it comes back: they are saved only when ``DEMO_CARD_SCREENSHOTS=1`` is set.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from asgi_closeguard import describe
from asgi_closeguard._knowledge import interface_texts
from demo_app.app import DEPLOY_CLIENTS, DEPLOY_SPREAD
from demo_app.chrome import chrome
from demo_app.codes import APP_CODES
from tests.support.browser import chromium, websocket_close_event
from tests.support.servers import REPO_ROOT, Server, run_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

pytestmark = [pytest.mark.browser, pytest.mark.server]

SCREENSHOTS = REPO_ROOT / "docs" / "img"
#: ``python -m demo_app`` serves with ``--ws auto``, which is websockets-sansio on uvicorn 0.54.
KIND = "uvicorn-websockets-sansio"
#: Generous bounds for a slow, shared machine; nothing here measures speed.
WAIT_MS = 10_000
#: Closes that came "in the same instant": uvicorn sends them in one loop, a few ms apart; the
#: bound leaves room for a loaded machine, and is a tenth of the drain's spread.
SAME_INSTANT_MS = 300


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server(KIND, "demo_app.app:app", ready_path="/api/closes") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


#: What Chromium writes to the console, by itself, when a server answers a WebSocket handshake
#: with an HTTP status: the page's JavaScript never sees that status (its CloseEvent says 1006).
HANDSHAKE_REFUSED = re.compile(
    r"WebSocket connection to '(?P<url>[^']+)' failed: "
    r"Error during WebSocket handshake: Unexpected response code: (?P<status>\d+)"
)


class PageErrors:
    """Every JavaScript error a page reports: uncaught exceptions and console errors.

    A handshake the server refused with an HTTP status is no error of the page's: Chromium logs
    it by itself. Those lines go to :attr:`refused_handshakes` as (url, status), for the tests of
    refusals to check, and not to :attr:`messages`.
    """

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        self.refused_handshakes: list[tuple[str, int]] = []
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type not in ("error", "assert"):
            return
        refused = HANDSHAKE_REFUSED.fullmatch(message.text)
        if refused:
            self.refused_handshakes.append((refused["url"], int(refused["status"])))
        else:
            self.messages.append(f"console.{message.type}: {message.text}")


def first_sentence(text: str) -> str:
    """The one-line explanation the page shows: the summary's first sentence."""
    match = re.match(r"(.+?[.!?])(\s|$)", text, re.DOTALL)
    return match.group(1) if match else text


def run_scenario(
    page: Page, scenario: str, sides: tuple[str, ...] = ("raw", "guarded"), wait_ms: int = WAIT_MS
) -> None:
    """Click the scenario's Run button and wait until every side shows a result."""
    card = page.locator(f'.scenario[data-scenario="{scenario}"]')
    card.locator("button.run").click()
    for side in sides:
        card.locator(f".result--{side}[data-code] .result__more").wait_for(timeout=wait_ms)


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


def save_card_screenshot(page: Page, scenario: str, path: Path) -> None:
    """One card, after its run: saved only on request (see the module's docstring)."""
    if os.environ.get("DEMO_CARD_SCREENSHOTS") == "1":
        page.locator(f'.scenario[data-scenario="{scenario}"]').screenshot(path=str(path))


@dataclass(frozen=True)
class DeployRow:
    """One client of the deploy card, as its timeline row says."""

    closes: list[int]
    close_ms: list[int]
    came_back: bool


def deploy_rows(page: Page, side: str) -> list[DeployRow]:
    rows = page.locator(f'.scenario[data-scenario="deploy"] .result--{side} .timeline__client')
    return [
        DeployRow(
            closes=[int(code) for code in (row.get_attribute("data-closes") or "").split()],
            close_ms=[int(ms) for ms in (row.get_attribute("data-close-ms") or "").split()],
            came_back=row.get_attribute("data-came-back") == "true",
        )
        for row in rows.all()
    ]


def test_the_deploy_card_drains_the_guarded_side_and_every_client_comes_back(
    server: Server, browser: Browser
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = PageErrors(page)
    page.goto(server.http_url("/"))
    # Opening the clients, the spread, connect()'s wait after the last 1012: all bounded here.
    run_scenario(page, "deploy", wait_ms=int(DEPLOY_SPREAD * 1000) + 3 * WAIT_MS)
    first_closes: dict[str, list[int]] = {}
    for side in ("raw", "guarded"):
        cell = page.locator(f'.scenario[data-scenario="deploy"] .result--{side}')
        rows = deploy_rows(page, side)
        assert len(rows) == DEPLOY_CLIENTS
        # Every client got 1012 first, then came back by itself, its session echoing again;
        # one that came back while the drain ran got 1012 again at once.
        assert all(row.closes and set(row.closes) == {1012} for row in rows), rows
        assert all(row.came_back for row in rows), rows
        assert cell.get_attribute("data-came-back") == str(DEPLOY_CLIENTS)
        assert (cell.get_attribute("data-code"), cell.get_attribute("data-state")) == (
            "1012",
            "clean",
        )
        assert cell.locator(".result__name").inner_text() == describe(1012).name
        first_closes[side] = sorted(row.close_ms[0] for row in rows)
    # Raw: in one instant, as uvicorn at SIGTERM. Guarded: over most of the spread.
    raw, guarded = first_closes["raw"], first_closes["guarded"]
    assert raw[-1] - raw[0] < SAME_INSTANT_MS, raw
    assert guarded[-1] - guarded[0] >= 0.6 * DEPLOY_SPREAD * 1000, guarded
    assert len({ms // 500 for ms in guarded}) >= DEPLOY_CLIENTS - 2, guarded
    words = chrome("en")
    raw_cell = page.locator('.scenario[data-scenario="deploy"] .result--raw')
    assert words["deploy_raw_done"] in raw_cell.inner_text()
    guarded_text = page.locator('.scenario[data-scenario="deploy"] .result--guarded').inner_text()
    assert "The Drain closed 6 connections over 3 s" in guarded_text
    assert f"{DEPLOY_CLIENTS} of {DEPLOY_CLIENTS} clients came back" in guarded_text
    assert errors.messages == []
    assert errors.refused_handshakes == []
    save_card_screenshot(page, "deploy", SCREENSHOTS / "demo-deploy.png")
    page.close()


def test_the_login_card_shows_1006_1006_and_the_apps_4401(server: Server, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = PageErrors(page)
    page.goto(server.http_url("/"))
    sides = ("raw", "guarded", "guarded-close")
    # Three connections each for the 1006 sides, with connect()'s backoff between them.
    run_scenario(page, "login-required", sides, wait_ms=3 * WAIT_MS)
    shown_codes = {side: shown(page, "login-required", side) for side in sides}
    for side in ("raw", "guarded"):
        cell = page.locator(f'.scenario[data-scenario="login-required"] .result--{side}')
        assert (shown_codes[side]["code"], shown_codes[side]["wasClean"]) == (
            "1006",
            "wasClean: false",
        )
        assert shown_codes[side]["reconnect_kind"] == "backoff"
        # The client knocked again and again, until the page's bound.
        assert cell.get_attribute("data-connections") == "3"
        assert chrome("en")["not_opened"] in cell.inner_text()
        assert "gave up after 3 connections" in cell.inner_text()
    closed = shown_codes["guarded-close"]
    described = describe(4401, app_codes=APP_CODES)
    assert (closed["code"], closed["name"], closed["wasClean"]) == (
        "4401",
        "Login required",
        "wasClean: true",
    )
    assert "login required" in closed["reason"]
    assert closed["explain"] == first_sentence(described.summary)
    # The app declared 4401 reconnect="no": one connection, and the client stays away.
    assert closed["reconnect_kind"] == "no"
    cell = page.locator('.scenario[data-scenario="login-required"] .result--guarded-close')
    assert cell.get_attribute("data-connections") == "1"
    # What the browser logged by itself: the HTTP 403 the page never saw, for each handshake
    # of the two 1006 sides, and nothing else.
    assert errors.messages == []
    assert sorted(errors.refused_handshakes) == sorted(
        (server.ws_url(f"/{side}/ws/login-required?attempt={attempt}"), 403)
        for side in ("raw", "guarded")
        for attempt in (1, 2, 3)
    )
    save_card_screenshot(page, "login-required", SCREENSHOTS / "demo-login.png")
    page.close()


def save_screenshot(page: Page, path: Path) -> None:
    """The top of the page, where the playground is: the picture the README shows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=False)
