"""connect() in a real browser: Debian's Chromium against the demo on a real uvicorn.

The page imports the demo's ``/js/closeguard.js`` (the module ``export-js`` prints, with the
demo's own codes baked in) and runs ``connect()`` against a scenario, through :class:`PageClient`:
its clients come back after the restart scenario's 1012, and stay away after 1000 and after the
demo's 4001, which it declares ``reconnect="no"``.

A test of another scenario is one function beside these: start a :class:`PageClient`, act on the
server if the scenario needs it, then wait for what the client must do::

    def test_clients_come_back_after_a_deploy(server, page):
        client = PageClient(page, server.ws_url("/guarded/ws/deploy"))
        client.wait_for_opens(1)
        ...  # start the drain
        run = client.wait_for_opens(2)
        assert [close.code for close in run.closes] == [1012]
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from demo_app.codes import APP_CODES
from tests.demo.test_browser import PageErrors
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
def page(server: Server, browser: Browser) -> Iterator[Page]:
    """A demo page, whose JavaScript errors fail the test."""
    opened = browser.new_page()
    errors = PageErrors(opened)
    opened.goto(server.http_url("/"))
    yield opened
    opened.close()
    assert errors.messages == []


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


# Starts connect() in the page against a scenario and keeps what it does in
# window.__clients[index]; each connection gets ?attempt=N, as the restart scenario expects.
_START_CLIENT_JS = """
async ([moduleUrl, url, maxCloses]) => {
  const { connect } = await import(moduleUrl);
  const state = { urls: [], opens: 0, closes: [], delays: [], closedByPage: false };
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
      onOpen: () => { state.opens += 1; },
      onClose: (event, description) => {
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

    def close(self) -> None:
        self.page.evaluate(f"window.__clients[{self.index}].connection.close()")


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
