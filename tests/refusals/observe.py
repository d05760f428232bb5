"""What Chromium's ``CloseEvent`` says for each refusal, on real servers, in one browser.

:func:`observe` opens one page per server (served by the app itself, so the WebSockets are
same-origin) and opens every :data:`CASES` socket at once, with and without a subprotocol;
then it reads the guards' close records from the server.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.support.browser import async_chromium
from tests.support.servers import Server

#: The subprotocols the page offers (``()``: none). Chromium fails a handshake whose answer
#: leaves out a subprotocol it asked for.
OFFERS: tuple[tuple[str, ...], ...] = ((), ("chat.v1", "chat.v0"))

#: Every (mode, endpoint) the page opens; see ``tests/refusals/app.py``.
CASES: tuple[tuple[str, str], ...] = (
    ("close", "login"),
    ("close", "crash"),
    ("close", "return"),
    ("http", "login"),
    ("http", "crash"),
)

#: A socket nothing closed within this many seconds is reported with ``timeout``.
TIMEOUT = 5.0

#: What the page sends as soon as a socket opens, as a page sends its token: it must never
#: reach the app (the records count what the app received).
ON_OPEN = "my token"
#: Servers on which the page sends nothing on open, and why.
SILENT_ON: dict[str, str] = {
    # granian 2.8 drops the TCP connection as soon as it has written a close frame: a message
    # in flight then meets a reset, and Chromium reports 1006 now and then, after accept as
    # much as here (docs/servers.md, "Found beyond the tables"). Not what these tests measure.
    "granian": "a message in flight races granian's own drop of the connection",
}

# Opens a WebSocket (offering `protocols`), sends `message` as soon as it opens (unless it is
# null), and resolves with what the CloseEvent says.
_CLOSE_EVENT_JS = """
async ([url, protocols, message, timeoutMs]) => await new Promise((resolve) => {
  const ws = protocols.length ? new WebSocket(url, protocols) : new WebSocket(url);
  let opened = false;
  const timer = setTimeout(() => {
    resolve({timeout: true, opened});
    try { ws.close(); } catch (e) {}
  }, timeoutMs);
  ws.onopen = () => { opened = true; if (message !== null) ws.send(message); };
  ws.onclose = (e) => {
    clearTimeout(timer);
    resolve({code: e.code, reason: e.reason, wasClean: e.wasClean, opened,
             protocol: ws.protocol});
  };
})
"""


@dataclass(frozen=True)
class Seen:
    """What the page saw for one socket."""

    code: int | None
    reason: str
    was_clean: bool
    opened: bool
    protocol: str
    timeout: bool = False

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Seen:
        if event.get("timeout"):
            return cls(None, "", False, bool(event.get("opened")), "", timeout=True)
        return cls(
            int(event["code"]),
            str(event["reason"]),
            bool(event["wasClean"]),
            bool(event["opened"]),
            str(event["protocol"]),
        )


#: (server kind, mode, endpoint, subprotocols offered)
Key = tuple[str, str, str, tuple[str, ...]]


async def _observe_server(browser: Any, server: Server) -> dict[Key, Seen]:
    page = await browser.new_page()
    try:
        await page.goto(server.http_url("/"))
        keys = [(server.kind, mode, name, offer) for mode, name in CASES for offer in OFFERS]
        message = None if server.kind in SILENT_ON else ON_OPEN
        events = await asyncio.gather(
            *(
                page.evaluate(
                    _CLOSE_EVENT_JS,
                    [server.ws_url(f"/{mode}/{name}"), list(offer), message, TIMEOUT * 1000],
                )
                for _, mode, name, offer in keys
            )
        )
    finally:
        await page.close()
    return {key: Seen.from_event(event) for key, event in zip(keys, events, strict=True)}


async def observe(servers: dict[str, Server]) -> dict[Key, Seen]:
    """Every case on every server in ``servers``, in one Chromium."""
    async with async_chromium() as browser:
        results = await asyncio.gather(*(_observe_server(browser, s) for s in servers.values()))
    merged: dict[Key, Seen] = {}
    for result in results:
        merged.update(result)
    return merged


def records(server: Server) -> list[dict[str, Any]]:
    """The close records both guards of the app handed to ``on_close`` so far."""
    with urllib.request.urlopen(server.http_url("/records"), timeout=5) as response:
        loaded: list[dict[str, Any]] = json.load(response)
    return loaded
