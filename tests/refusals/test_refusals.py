"""Refusals a browser can read: Chromium on the seven servers, with and without a subprotocol.

Every server kind serves ``tests.refusals.app:app`` once; the page opens every refusal on all
of them at once (``observe.py``), and the tests read the outcomes: what the ``CloseEvent`` says
(``expectations.py``), the subprotocol the handshake accepted, the guard's record, and that no
server's worker died on the way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.refusals.app import SECRET
from tests.refusals.expectations import expected
from tests.refusals.observe import CASES, OFFERS, Key, Seen, observe, records
from tests.support.servers import SERVER_KINDS, Server, ServerStartError, run_servers

pytestmark = [pytest.mark.server, pytest.mark.browser]

Started = dict[str, Server | ServerStartError]

#: How long the guards may take to hand over their records once the pages saw their closes.
RECORDS_WAIT = 5.0


@pytest.fixture(scope="module")
def started() -> Iterator[Started]:
    with run_servers(SERVER_KINDS, "tests.refusals.app:app", ready_path="/health") as servers:
        yield servers


@pytest.fixture(scope="module")
def seen(started: Started) -> dict[Key, Seen]:
    running = {kind: s for kind, s in started.items() if isinstance(s, Server)}
    return asyncio.run(observe(running))


def server_for(started: Started, kind: str) -> Server:
    server = started[kind]
    if isinstance(server, ServerStartError):
        pytest.fail(f"{kind} did not start:\n{server}", pytrace=False)
    return server


@pytest.mark.parametrize("offer", OFFERS, ids=lambda offer: "+".join(offer) or "no-subprotocol")
@pytest.mark.parametrize(("mode", "endpoint"), CASES, ids=lambda value: value)
@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_the_page_sees_the_refusals_code(
    kind: str,
    mode: str,
    endpoint: str,
    offer: tuple[str, ...],
    started: Started,
    seen: dict[Key, Seen],
) -> None:
    server_for(started, kind)
    got = seen[(kind, mode, endpoint, offer)]
    shows = expected(kind, mode, endpoint)
    if shows.or_rarely_1006 and got.code == 1006:
        return  # the server's reset won the race (see Shows.or_rarely_1006)
    assert (got.code, got.reason, got.was_clean, got.opened) == (
        shows.code,
        shows.reason,
        shows.was_clean,
        shows.opened,
    ), got
    if got.opened:
        # The first subprotocol offered: Chromium fails a handshake that leaves it out.
        assert got.protocol == (offer[0] if offer else "")


def guard_records(server: Server, count: int) -> list[dict[str, Any]]:
    """The records so far, once there are ``count`` of them (or after :data:`RECORDS_WAIT`)."""
    deadline = time.monotonic() + RECORDS_WAIT
    found = records(server)
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        found = records(server)
    return found


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_each_refusal_leaves_one_record_with_the_code_on_the_wire(
    kind: str, started: Started, seen: dict[Key, Seen]
) -> None:
    server = server_for(started, kind)
    found = guard_records(server, len(CASES) * len(OFFERS))
    assert sorted(r["path"] for r in found) == sorted(
        f"/{mode}/{endpoint}" for mode, endpoint in CASES for _ in OFFERS
    )
    for record in found:
        _, mode, endpoint = record["path"].split("/")
        # The app never accepted; the page sent a message once open, which never reached it.
        assert (record["accepted"], record["messages_received"]) == (False, 0), record
        if mode == "close":
            assert record["http_status"] is None, record
            assert record["code"] == expected(kind, mode, endpoint).code, record
        else:
            assert record["code"] is None, record
            assert record["http_status"] == (403 if endpoint == "login" else 500), record


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_every_server_outlives_the_refusals(
    kind: str, started: Started, seen: dict[Key, Seen]
) -> None:
    # granian 2.8's worker panics on a receive() after the close when the handshake's connect
    # is still unread: the guard reads it before its accept.
    server = server_for(started, kind)
    output = server.output()
    assert server.alive(), output
    assert "panicked" not in output, output
    assert SECRET not in str([s for key, s in seen.items() if key[0] == kind])
