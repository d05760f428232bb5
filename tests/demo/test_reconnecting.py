"""connect() in a real browser: Debian's Chromium against the demo on a real uvicorn.

The page imports the demo's ``/js/closeguard.js`` (the module ``export-js`` prints, with the
demo's own codes baked in) and runs ``connect()`` against a scenario, through :class:`PageClient`:
its clients come back after the restart scenario's 1012 and after a deploy's (in one instant raw,
spread over the drain guarded), and stay away after 1000, after the demo's 4001 and after its
4401 "login required" when the guard answers that refusal with a close; refused with HTTP, the
same 4401 is a 1006 the client keeps coming back after.

A test of another scenario is one function beside these: start a :class:`PageClient`, act on the
server if the scenario needs it (``deploy()``), then wait for what the client must do.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from demo_app.app import DEPLOY_CLIENTS, DEPLOY_SPREAD
from demo_app.codes import APP_CODES
from tests.demo.test_browser import SAME_INSTANT_MS, PageErrors
from tests.support.browser import chromium
from tests.support.servers import Server, run_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.server]

#: ``python -m demo_app`` serves with ``--ws auto``, which is websockets-sansio on uvicorn 0.54.
KIND = "uvicorn-websockets-sansio"
#: Generous bounds for a slow, shared machine; nothing here measures speed.
WAIT_MS = 15_000
#: connect()'s wait after "yes" is random and below this (the module's SOON_MS).
SOON_MS = 1500


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server(KIND, "demo_app.app:app", ready_path="/api/closes") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def watched(server: Server, browser: Browser) -> Iterator[tuple[Page, PageErrors]]:
    """A demo page, whose JavaScript errors fail the test, and what it logged."""
    opened = browser.new_page()
    errors = PageErrors(opened)
    opened.goto(server.http_url("/"))
    yield opened, errors
    opened.close()
    assert errors.messages == []


@pytest.fixture
def page(watched: tuple[Page, PageErrors]) -> Page:
    """A demo page, whose JavaScript errors fail the test."""
    return watched[0]


@dataclass(frozen=True)
class Close:
    """One close a page's client saw, with what closeguard.js made of it."""

    code: int
    reason: str
    was_clean: bool
    name: str
    reconnect: str


@dataclass(frozen=True)
class ClientRun:
    """What a page's client did so far."""

    #: The address of each connection it opened, in order (``attempt=1``, ``attempt=2``, ...).
    urls: list[str]
    opens: int
    closes: list[Close]
    #: Each wait connect() scheduled before a new connection, in ms.
    delays: list[int]
    #: Whether the page closed the client (at ``max_closes``) rather than connect() stopping.
    closed_by_page: bool
    #: When each connection opened, and when each close came: the page's clock, in ms.
    open_ms: list[float]
    close_ms: list[float]


# Starts connect() in the page against a scenario and keeps what it does in
# window.__clients[index]; each connection gets ?attempt=N, as the restart scenario expects.
_START_CLIENT_JS = """
async ([moduleUrl, url, maxCloses]) => {
  const { connect } = await import(moduleUrl);
  const state = {
    urls: [], opens: 0, closes: [], delays: [], closedByPage: false, openMs: [], closeMs: [],
  };
  let attempt = 0;
  const connection = connect(
    () => {
      attempt += 1;
      const address = new URL(url);
      address.searchParams.set("attempt", String(attempt));
      state.urls.push(address.href);
      return address.href;
    },
    {
      onOpen: () => {
        state.opens += 1;
        state.openMs.push(performance.now());
      },
      onClose: (event, description) => {
        state.closeMs.push(performance.now());
        state.closes.push({
          code: event.code,
          reason: event.reason,
          was_clean: event.wasClean,
          name: description.name,
          reconnect: description.reconnect,
        });
        if (description.reconnect !== "no" && state.closes.length >= maxCloses) {
          state.closedByPage = true;
          connection.close();
        }
      },
      onReconnect: (delay) => { state.delays.push(delay); },
    },
  );
  window.__clients = window.__clients || [];
  window.__clients.push({ state, connection });
  return window.__clients.length - 1;
}
"""


class PageClient:
    """A ``connect()`` client running in ``page`` against ``url``, started at once.

    The page closes it itself after ``max_closes`` closes that would be followed by a new
    connection, so that no test leaves a client reconnecting for ever.
    """

    def __init__(self, page: Page, url: str, *, max_closes: int = 5) -> None:
        self.page = page
        module_url = page.evaluate("new URL('/js/closeguard.js', location.href).href")
        self.index: int = page.evaluate(_START_CLIENT_JS, [module_url, url, max_closes])

    def _state(self) -> str:
        return f"window.__clients[{self.index}].state"

    def run(self) -> ClientRun:
        """What the client did so far."""
        state: dict[str, Any] = self.page.evaluate(self._state())
        return ClientRun(
            urls=state["urls"],
            opens=state["opens"],
            closes=[Close(**close) for close in state["closes"]],
            delays=state["delays"],
            closed_by_page=state["closedByPage"],
            open_ms=state["openMs"],
            close_ms=state["closeMs"],
        )

    def wait_for(self, condition: str) -> ClientRun:
        """Wait until ``condition``, a JavaScript expression on ``state``, holds."""
        self.page.wait_for_function(
            f"(() => {{ const state = {self._state()}; return {condition}; }})()", timeout=WAIT_MS
        )
        return self.run()

    def wait_for_opens(self, count: int) -> ClientRun:
        return self.wait_for(f"state.opens >= {count}")

    def wait_for_closes(self, count: int) -> ClientRun:
        return self.wait_for(f"state.closes.length >= {count}")

    def wait_until_it_stays_away(self) -> ClientRun:
        """Wait for a close that connect() answers with "no" (or for the page's close)."""
        return self.wait_for(
            "state.closedByPage || "
            "(state.closes.length > 0 && state.closes[state.closes.length - 1].reconnect === 'no')"
        )

    def wait_until_it_came_back(self) -> ClientRun:
        """Wait until the client was closed, and is connected again."""
        return self.wait_for("state.closes.length > 0 && state.opens > state.closes.length")

    def close(self) -> None:
        self.page.evaluate(f"window.__clients[{self.index}].connection.close()")


def page_now(page: Page) -> float:
    """The page's clock (``performance.now()``), in ms: what :class:`ClientRun` times use."""
    now: float = page.evaluate("performance.now()")
    return now


def deploy(server: Server, spread: float) -> dict[str, Any]:
    """``POST /api/deploy?spread=...``: answers once the guarded side's drain is over."""
    request = urllib.request.Request(server.http_url(f"/api/deploy?spread={spread}"), method="POST")
    with urllib.request.urlopen(request, timeout=spread + WAIT_MS / 1000) as response:
        report: dict[str, Any] = json.load(response)
    return report


def guarded_closes(server: Server, path: str) -> list[int]:
    """The codes the guard recorded for ``path``, oldest first."""
    with urllib.request.urlopen(server.http_url("/api/closes"), timeout=10) as response:
        records = json.load(response)["records"]
    return [record["code"] for record in reversed(records) if record["path"] == path]


def guarded_closes_after(server: Server, path: str, before: int, count: int) -> list[int]:
    """The codes recorded for ``path`` since ``before`` of them, once ``count`` are in."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(guarded_closes(server, path)) < before + count and time.monotonic() < deadline:
        time.sleep(0.05)
    return guarded_closes(server, path)[before:]


def assert_stays_away(client: PageClient, run: ClientRun) -> None:
    """connect() scheduled nothing after its last close, and opened nothing since."""
    assert len(run.delays) == len(run.closes) - 1
    assert len(run.urls) == len(run.closes)
    # Nothing was scheduled, so nothing comes later: the page is asked once more all the same,
    # after the longest wait "yes" could have picked.
    client.page.wait_for_timeout(SOON_MS + 100)
    assert client.run().urls == run.urls


@pytest.mark.parametrize("side", ["raw", "guarded"])
def test_the_client_comes_back_after_a_restart_and_stays_away_after_1000(
    side: str, server: Server, page: Page
) -> None:
    path = f"/{side}/ws/restart"
    before = len(guarded_closes(server, path))
    client = PageClient(page, server.ws_url(path))
    run = client.wait_until_it_stays_away()
    assert [(close.code, close.reconnect) for close in run.closes] == [(1012, "yes"), (1000, "no")]
    assert [close.name for close in run.closes] == ["Service Restart", "Normal Closure"]
    assert run.opens == 2
    assert run.urls[1].endswith("attempt=2")
    assert len(run.delays) == 1
    assert 0 <= run.delays[0] < SOON_MS
    assert not run.closed_by_page
    assert_stays_away(client, run)
    if side == "guarded":
        assert guarded_closes_after(server, path, before, 2) == [1012, 1000]


@pytest.mark.parametrize(
    ("code", "name"),
    [(1000, "Normal Closure"), (4001, "Kicked"), (4401, "Login required")],
)
def test_the_client_stays_away_after_1000_and_a_code_the_app_declared_no(
    code: int, name: str, server: Server, page: Page
) -> None:
    assert code not in APP_CODES or APP_CODES[code].reconnect == "no"
    path = "/guarded/ws/close"
    before = len(guarded_closes(server, path))
    client = PageClient(page, server.ws_url(f"{path}?code={code}&reason=bye"))
    run = client.wait_until_it_stays_away()
    assert run.closes == [Close(code, "bye", True, name, "no")]
    assert run.opens == 1
    assert_stays_away(client, run)
    assert guarded_closes_after(server, path, before, 1) == [code]


def test_the_client_backs_off_after_a_code_the_app_did_not_declare(
    server: Server, page: Page
) -> None:
    # 4404 is nobody's declaration here: a private-use code backs off by default.
    assert 4404 not in APP_CODES
    client = PageClient(page, server.ws_url("/guarded/ws/close?code=4404"), max_closes=2)
    run = client.wait_until_it_stays_away()
    assert [(close.code, close.reconnect) for close in run.closes] == [
        (4404, "backoff"),
        (4404, "backoff"),
    ]
    assert run.opens == 2
    assert run.closed_by_page
    assert len(run.delays) == 1
    assert 0 <= run.delays[0] < 1000  # the first ceiling of the backoff


@pytest.mark.parametrize("side", ["raw", "guarded"])
def test_every_client_comes_back_after_a_deploy(side: str, server: Server, page: Page) -> None:
    path = f"/{side}/ws/deploy"
    # Room for the closes of the drain: one that comes back while it runs gets 1012 again.
    clients = [PageClient(page, server.ws_url(path), max_closes=10) for _ in range(DEPLOY_CLIENTS)]
    for client in clients:
        client.wait_for_opens(1)
    deployed_at = page_now(page)
    report = deploy(server, DEPLOY_SPREAD)
    runs = [client.wait_until_it_came_back() for client in clients]
    for client in clients:
        client.close()

    # The deploy reached this side's clients only: the other side had none open.
    expected = {"raw": (DEPLOY_CLIENTS, 0), "guarded": (0, DEPLOY_CLIENTS)}[side]
    assert (report["raw_closed"], report["drained"]) == expected
    reason = "" if side == "raw" else "Service Restart"
    for run in runs:
        # 1012 first; any later close (a reconnect while the drain ran) was 1012 too. connect()
        # came back after each one by itself, after a short random wait.
        assert run.closes[0] == Close(1012, reason, True, "Service Restart", "yes")
        assert {close.code for close in run.closes} == {1012}
        assert run.opens == len(run.closes) + 1
        assert len(run.delays) == len(run.closes)
        assert all(0 <= delay < SOON_MS for delay in run.delays)
        assert not run.closed_by_page
    firsts = sorted(run.close_ms[0] - deployed_at for run in runs)
    if side == "raw":
        # uvicorn at SIGTERM: every connection in the same instant, and nothing turned away.
        assert firsts[-1] - firsts[0] < SAME_INSTANT_MS, firsts
        assert all(len(run.closes) == 1 for run in runs)
    else:
        # The drain: one at a time over the spread, never all at once.
        assert firsts[-1] - firsts[0] >= 0.6 * DEPLOY_SPREAD * 1000, firsts
        assert len({int(ms // 500) for ms in firsts}) >= DEPLOY_CLIENTS - 2, firsts


def test_the_client_stays_away_after_a_login_refusal_it_can_read(
    server: Server, page: Page
) -> None:
    # The guard with refuse_with="close" accepts, then closes with the app's 4401, declared no.
    assert APP_CODES[4401].reconnect == "no"
    path = "/guarded-close/ws/login-required"
    before = len(guarded_closes(server, path))
    client = PageClient(page, server.ws_url(path))
    run = client.wait_until_it_stays_away()
    assert run.closes == [Close(4401, "login required", True, "Login required", "no")]
    assert run.opens == 1
    assert_stays_away(client, run)
    assert guarded_closes_after(server, path, before, 1) == [4401]


@pytest.mark.parametrize("side", ["raw", "guarded"])
def test_a_refusal_answered_with_http_is_a_1006_the_client_keeps_coming_back_after(
    side: str, server: Server, watched: tuple[Page, PageErrors]
) -> None:
    page, errors = watched
    client = PageClient(page, server.ws_url(f"/{side}/ws/login-required"), max_closes=2)
    run = client.wait_until_it_stays_away()
    assert [(close.code, close.was_clean, close.reconnect) for close in run.closes] == [
        (1006, False, "backoff")
    ] * 2
    assert run.opens == 0
    assert run.closed_by_page
    # The app's 4401 went out as the handshake's HTTP 403, which only the console shows.
    assert [status for _, status in errors.refused_handshakes] == [403, 403]
