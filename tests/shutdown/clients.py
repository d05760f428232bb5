"""The clients of a shutdown run: the python ``websockets`` client and Chromium.

Each holds one connection per (app, scenario) open until the server is signalled, then reports
how that connection ended: the close frame's code and reason (or none, or one the client had
to reject), Chromium's ``wasClean``, and when it ended (``time.time()``, compared with the
moment of the signal by the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

#: The message a ``sent`` client sends just before the signal.
LAST_WORDS = "last words"
#: Bound on the opening handshake and the handler's "ready".
READY_TIMEOUT = 15.0


@dataclass(frozen=True)
class ClientEnd:
    """How one connection ended, seen by its client."""

    code: int | None = None  # the close frame's code (1005: a frame without one)
    reason: str | None = None
    no_frame: bool = False  # the TCP connection ended without a close frame (1006)
    rejected: str | None = None  # the server's close frame was invalid (the client fails 1002)
    left_open: bool = False  # still open when the run stopped watching
    was_clean: bool | None = None  # Chromium's CloseEvent.wasClean (None: the python client)
    at: float | None = None  # time.time() when the end was seen


class PythonClient:
    """One connection of the python client, read continuously until it ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None
        self.ended_at: float | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect and wait for the handler's "ready"; raises if either fails."""
        self.ws = await connect(
            self.url,
            open_timeout=READY_TIMEOUT,
            close_timeout=2.0,
            ping_interval=None,
            max_queue=None,
            proxy=None,
        )
        first = await asyncio.wait_for(self.ws.recv(), READY_TIMEOUT)
        if first != "ready":
            raise RuntimeError(f"expected 'ready', got {first!r}")
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.ws.recv()
        self.ended_at = time.time()

    async def send_last_words(self) -> None:
        """Send a message the handler has not read when the signal lands."""
        assert self.ws is not None
        await self.ws.send(LAST_WORDS)

    async def end(self, timeout: float) -> ClientEnd:
        """Wait up to ``timeout`` s for the connection to end, then describe how it did."""
        assert self.ws is not None
        assert self._reader is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        except asyncio.TimeoutError:
            self._reader.cancel()
            self.ws.transport.abort()
            return ClientEnd(left_open=True)
        # Let the client's side of the closing handshake finish before reading its record.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.ws.wait_closed(), 3.0)
        protocol = self.ws.protocol
        self.ws.transport.abort()
        received = protocol.close_rcvd
        if received is not None:
            return ClientEnd(code=int(received.code), reason=received.reason, at=self.ended_at)
        if protocol.parser_exc is not None and not isinstance(protocol.parser_exc, EOFError):
            return ClientEnd(rejected=str(protocol.parser_exc), at=self.ended_at)
        return ClientEnd(no_frame=True, at=self.ended_at)

    def abort(self) -> None:
        """Drop the connection without a word (cleanup after a failed run)."""
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            self.ws.transport.abort()


# Opens one WebSocket per entry of `urls` ({name: url}) and keeps them in window.__shutdown;
# resolves with {name: true|false} once each got "ready" (false: it closed or timed out first).
_OPEN_JS = """
async ([urls, timeoutMs]) => {
  window.__shutdown = window.__shutdown || {};
  const opened = Object.entries(urls).map(([name, url]) => new Promise((resolve) => {
    const entry = {ws: new WebSocket(url), ready: false, end: null};
    window.__shutdown[name] = entry;
    const timer = setTimeout(() => resolve([name, false]), timeoutMs);
    entry.ws.onmessage = (e) => {
      if (!entry.ready && e.data === "ready") {
        entry.ready = true;
        clearTimeout(timer);
        resolve([name, true]);
      }
    };
    entry.ws.onclose = (e) => {
      entry.end = {code: e.code, reason: e.reason, wasClean: e.wasClean, at: Date.now() / 1000};
      clearTimeout(timer);
      resolve([name, entry.ready]);
    };
  }));
  return Object.fromEntries(await Promise.all(opened));
}
"""

_SEND_JS = """
([names, text]) => { for (const name of names) window.__shutdown[name].ws.send(text); }
"""

# Resolves with {name: CloseEvent fields or null} once every socket closed or after timeoutMs.
_ENDS_JS = """
async ([names, timeoutMs]) => {
  const deadline = Date.now() + timeoutMs;
  const all = () => names.every((name) => window.__shutdown[name].end !== null);
  while (!all() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const ends = {};
  for (const name of names) {
    const entry = window.__shutdown[name];
    ends[name] = entry.end;
    if (entry.end === null) entry.ws.close();
  }
  return ends;
}
"""


class BrowserSockets:
    """Chromium WebSockets opened from one page, named; several sets may share the page."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def open(self, urls: dict[str, str]) -> dict[str, bool]:
        """Open every socket and wait for "ready": ``{name: got ready}``."""
        result: dict[str, bool] = await self.page.evaluate(_OPEN_JS, [urls, READY_TIMEOUT * 1000])
        return result

    async def send(self, names: list[str], text: str = LAST_WORDS) -> None:
        """Send ``text`` on each named socket."""
        if names:
            await self.page.evaluate(_SEND_JS, [names, text])

    async def ends(self, names: list[str], timeout: float) -> dict[str, ClientEnd]:
        """How each named socket ended, waiting up to ``timeout`` s for all of them."""
        raw: dict[str, dict[str, Any] | None] = await self.page.evaluate(
            _ENDS_JS, [names, timeout * 1000]
        )
        ends: dict[str, ClientEnd] = {}
        for name, event in raw.items():
            if event is None:
                ends[name] = ClientEnd(left_open=True)
                continue
            code = int(event["code"])
            ends[name] = ClientEnd(
                code=None if code == 1006 else code,
                reason=event.get("reason") or "",
                no_frame=code == 1006,
                was_clean=bool(event.get("wasClean")),
                at=float(event["at"]),
            )
        return ends
