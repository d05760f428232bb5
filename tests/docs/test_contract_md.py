"""``docs/contract.md``'s statements that no other suite shows, on the real server.

daphne refuses every close code but 1000 and 3000-4999 by raising from the app's ``close()``.
What the client then gets depends on the app: one that catches daphne's exception leaves the
connection open; one that does not (a plain Starlette handler) has its exception logged, and
daphne closes with its own 1011. Behind the guard the client gets the fallback, 4012.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.servers import REPO_ROOT, Server, run_server

DOC = REPO_ROOT / "docs" / "contract.md"

#: How long a socket may stay silent before it counts as left open.
LEFT_OPEN_AFTER = 3.0


async def how_it_closed(server: Server, path: str) -> str:
    """The close the client got: ``"1011 ''"``, ``"no close frame"`` or ``"left open"``."""
    async with connect(server.ws_url(path), open_timeout=5) as websocket:
        try:
            await asyncio.wait_for(websocket.recv(), LEFT_OPEN_AFTER)
        except ConnectionClosed as closed:
            return (
                "no close frame"
                if closed.rcvd is None
                else f"{closed.rcvd.code} {closed.rcvd.reason!r}"
            )
        except asyncio.TimeoutError:
            return "left open"
    return "a message"  # pragma: no cover - the apps send none


@pytest.mark.server
def test_daphne_refuses_a_code_the_app_does_not_catch_with_1011() -> None:
    with run_server("daphne", "tests.docs.apps:app", ready_path="/health") as raw:
        mark = raw.mark()
        assert asyncio.run(how_it_closed(raw, "/refused")) == "1011 ''"
        assert raw.wait_for_output("Traceback", since=mark)  # daphne logs the app's exception
        assert asyncio.run(how_it_closed(raw, "/refused-caught")) == "left open"
    with run_server("daphne", "tests.docs.apps:guarded", ready_path="/health") as guarded:
        assert asyncio.run(how_it_closed(guarded, "/refused")) == "4012 ''"


def test_the_refused_code_row_says_both_outcomes_on_daphne() -> None:
    (row,) = [
        line
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if "a code the server refuses" in line
    ]
    today = row.split(" | ")[1]
    assert "leaves the connection open" in today, today
    assert "1011 ''" in today, today


def test_the_client_close_without_a_code_row_names_hypercorn() -> None:
    (row,) = [
        line
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("| the client closes without a code")
    ]
    with_the_guard = row.split(" | ")[2]
    assert '"code": 1005' in with_the_guard, with_the_guard
    assert "hypercorn" in with_the_guard, with_the_guard
