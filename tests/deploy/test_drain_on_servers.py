"""The drain on each of the seven server setups, with the python client and with Chromium.

One instance of ``benchmarks.deploy_app:guarded`` per setup (and hypercorn's trio worker): a
few clients connected, ``POST /drain?spread=1``, and while it runs: ``/ready`` answers 503, a
new WebSocket is accepted and then closed with 1012 (4012 on daphne), in the python client and
in Chromium alike, never refused with HTTP; once it returns, every client got the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.browser import async_chromium, async_websocket_close_event
from tests.support.servers import SERVER_KINDS, Server, spawn_server

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.timeout(120)]

SPREAD = 1.0
CLIENTS = 6
#: The setups, and hypercorn serving the app under trio: the drain is the same there.
SETUPS = [*SERVER_KINDS, "hypercorn-trio"]


# Chromium fails a handshake whose answer leaves out a subprotocol it asked for (1006): the
# guard accepts the first one offered.
SUBPROTOCOL_JS = """
async (url) => await new Promise((resolve) => {
  const ws = new WebSocket(url, ["chat.v2", "chat.v1"]);
  let opened = false;
  const timer = setTimeout(() => resolve({timeout: true}), 5000);
  ws.onopen = () => { opened = true; };
  ws.onclose = (e) => {
    clearTimeout(timer);
    resolve({code: e.code, opened, protocol: ws.protocol});
  };
})
"""


@contextlib.contextmanager
def serving(setup: str) -> Iterator[Server]:
    kind, extra = (
        ("hypercorn", ["--worker-class", "trio"]) if setup == "hypercorn-trio" else (setup, [])
    )
    server = spawn_server(
        kind, "benchmarks.deploy_app:guarded", env={"DEPLOY_INSTANCE": "A"}, extra_args=extra
    )
    try:
        server.wait_ready(ready_path="/ready")
        yield server
    finally:
        server.close()


async def how_it_ends(ws: Any) -> int | None:
    with contextlib.suppress(ConnectionClosed):
        await ws.wait_closed()
    frame = ws.protocol.close_rcvd
    return None if frame is None else int(frame.code)


async def a_new_socket(server: Server) -> tuple[int | None, str | None]:
    """Connect while the drain runs: the handshake succeeds, then the close comes at once."""
    async with connect(server.ws_url("/ws"), open_timeout=5, ping_interval=None) as ws:
        code = await asyncio.wait_for(how_it_ends(ws), 5)
        reason = ws.protocol.close_rcvd.reason if ws.protocol.close_rcvd else None
        return code, reason


async def drain_while_watching(server: Server) -> dict[str, Any]:
    clients = [
        await connect(server.ws_url("/ws"), open_timeout=5, ping_interval=None)
        for _ in range(CLIENTS)
    ]
    for ws in clients:
        assert await ws.recv() == "A"
    async with httpx.AsyncClient(timeout=15) as http:
        assert (await http.get(server.http_url("/ready"))).status_code == 200
        drain = asyncio.ensure_future(http.post(server.http_url(f"/drain?spread={SPREAD}")))
        await asyncio.sleep(0.2)
        ready_while_draining = (await http.get(server.http_url("/ready"))).status_code
        newcomer = await a_new_socket(server)
        async with async_chromium() as browser:
            page = await browser.new_page()
            in_browser = await async_websocket_close_event(page, server.ws_url("/ws"))
            with_subprotocol = await page.evaluate(SUBPROTOCOL_JS, server.ws_url("/ws"))
        answer = await asyncio.wait_for(drain, SPREAD + 5)
        codes = [await asyncio.wait_for(how_it_ends(ws), 5) for ws in clients]
    return {
        "ready": ready_while_draining,
        "newcomer": newcomer,
        "browser": in_browser,
        "browser_subprotocol": with_subprotocol,
        "drain": answer.json(),
        "codes": codes,
    }


@pytest.mark.parametrize("setup", SETUPS)
def test_a_drain_on_each_setup(setup: str) -> None:
    code = 4012 if setup == "daphne" else 1012
    with serving(setup) as server:
        seen = asyncio.run(drain_while_watching(server))
        mark = server.mark()
        server.send_signal(signal.SIGTERM)
        exited = server.wait_gone(10)
        after_signal = server.output(mark)
    assert seen["ready"] == 503
    # daphne drops every reason; the others carry the guard's.
    assert seen["newcomer"] == (code, "" if setup == "daphne" else "Service Restart")
    assert seen["browser"]["opened"], seen["browser"]  # a handshake, never an HTTP refusal
    assert seen["browser"]["code"] == code, seen["browser"]
    assert seen["browser_subprotocol"] == {"code": code, "opened": True, "protocol": "chat.v2"}
    assert seen["codes"] == [code] * CLIENTS
    assert seen["drain"] == {"open": 0}
    # After a drain, nothing is left for the signal: the server exits, and logs no error.
    assert exited
    assert "Traceback" not in after_signal
    assert "ERROR" not in after_signal
