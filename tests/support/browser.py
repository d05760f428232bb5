"""Debian's Chromium, driven through Playwright, for tests that need a real browser.

Never downloads a browser: Playwright is pointed at ``/usr/bin/chromium`` (Debian's package;
``CHROMIUM_PATH`` overrides the path). A missing browser is a test failure with a clear message,
not a skip::

    from tests.support.browser import chromium, websocket_close_event

    with chromium() as browser:
        page = browser.new_page()
        page.goto(server.http_url("/"))
        event = websocket_close_event(page, server.ws_url("/guarded/crash"))
        assert event["code"] == 1011

:func:`async_chromium` and :func:`async_websocket_close_event` are the same for Playwright's
async API.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Browser as AsyncBrowser
    from playwright.async_api import Page as AsyncPage
    from playwright.sync_api import Browser, Page

__all__ = [
    "CHROMIUM_ARGS",
    "BrowserMissingError",
    "async_chromium",
    "async_websocket_close_event",
    "chromium",
    "chromium_path",
    "websocket_close_event",
]

#: Flags for a quiet, headless Chromium that makes no network calls of its own.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

_DEFAULT_PATH = "/usr/bin/chromium"


class BrowserMissingError(RuntimeError):
    """Debian's Chromium is not installed where the tests look for it."""


def chromium_path() -> str:
    """The Chromium executable to drive; raises :class:`BrowserMissingError` when absent."""
    path = os.environ.get("CHROMIUM_PATH") or _DEFAULT_PATH
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        found = shutil.which("chromium")
        raise BrowserMissingError(
            f"Chromium not found at {path!r}"
            + (f" (there is one at {found!r}: set CHROMIUM_PATH)" if found else "")
            + ". Install Debian's package: `apt-get install chromium`. The browser tests never"
            " download a browser."
        )
    return path


def _launch_options() -> dict[str, Any]:
    return {
        "executable_path": chromium_path(),
        "headless": True,
        "args": list(CHROMIUM_ARGS),
        "timeout": 20_000,
    }


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Launch headless Chromium through Playwright's sync API; closed on exit."""
    from playwright.sync_api import sync_playwright

    options = _launch_options()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**options)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.asynccontextmanager
async def async_chromium() -> AsyncIterator[AsyncBrowser]:
    """Launch headless Chromium through Playwright's async API; closed on exit."""
    from playwright.async_api import async_playwright

    options = _launch_options()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**options)
        try:
            yield browser
        finally:
            await browser.close()


# Opens a WebSocket, optionally sends messages once open, and resolves with what the
# CloseEvent says; resolves with {"timeout": true} if no close event came in time.
_CLOSE_EVENT_JS = """
async ([url, messages, timeoutMs]) => await new Promise((resolve) => {
  const ws = new WebSocket(url);
  const received = [];
  let opened = false;
  const timer = setTimeout(() => {
    resolve({timeout: true, opened, received, readyState: ws.readyState});
    try { ws.close(); } catch (e) {}
  }, timeoutMs);
  ws.onopen = () => { opened = true; for (const m of messages) ws.send(m); };
  ws.onmessage = (e) => received.push(typeof e.data === "string" ? e.data : "<binary>");
  ws.onclose = (e) => {
    clearTimeout(timer);
    resolve({code: e.code, reason: e.reason, wasClean: e.wasClean, opened, received});
  };
})
"""


def websocket_close_event(
    page: Page, url: str, *, messages: tuple[str, ...] = (), timeout: float = 5.0
) -> dict[str, Any]:
    """Open a WebSocket to ``url`` in ``page`` and return its ``CloseEvent`` as a dict.

    Keys: ``code``, ``reason``, ``wasClean``, ``opened`` (whether ``open`` fired), ``received``
    (text messages that arrived). If nothing closed the socket within ``timeout`` seconds the
    result is ``{"timeout": True, ...}`` and the page closes the socket itself.
    """
    result: dict[str, Any] = page.evaluate(_CLOSE_EVENT_JS, [url, list(messages), timeout * 1000])
    return result


async def async_websocket_close_event(
    page: AsyncPage, url: str, *, messages: tuple[str, ...] = (), timeout: float = 5.0
) -> dict[str, Any]:
    """:func:`websocket_close_event` for Playwright's async API; several may run at once."""
    result: dict[str, Any] = await page.evaluate(
        _CLOSE_EVENT_JS, [url, list(messages), timeout * 1000]
    )
    return result
