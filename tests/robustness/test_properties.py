"""Property: whatever an app script, a client and a server do, the guard keeps its promises.

Scripts and peers come from :mod:`tests.robustness.scripts`. Each example runs one connection on
the in-memory server, under asyncio and then trio, each in one long-lived event loop (a blocking
portal), so the ``ci`` profile's 2,000 examples take seconds.
``HYPOTHESIS_PROFILE=thorough`` runs 100,000; they take minutes, so run them with
``-o timeout=0``, or pytest-timeout's per-test bound cuts them off halfway (a "flaky" failure).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import event, given

from asgi_closeguard._frame import normalise_reason
from tests.robustness.scripts import (
    Peer,
    Script,
    check_invariants,
    peers,
    play,
    profile,
    reasons,
    scripts,
)


@pytest.fixture(scope="module")
def portals() -> Iterator[list[BlockingPortal]]:
    """One event loop per backend, kept for every example of the module."""
    with (
        start_blocking_portal(backend="asyncio") as on_asyncio,
        start_blocking_portal(backend="trio") as on_trio,
    ):
        yield [on_asyncio, on_trio]


@profile()
@given(script=scripts(), peer=peers())
def test_generated_scripts_keep_every_promise(
    portals: list[BlockingPortal], script: Script, peer: Peer
) -> None:
    # Each example runs under asyncio and under trio: generating it costs more than playing it.
    for portal in portals:
        played = portal.call(play, script, peer)
        for label in played.events:
            event(label)
        check_invariants(script, peer, played)


@profile()
@given(reason=reasons)
def test_every_reason_fits_a_close_frame(reason: object) -> None:
    # The reason rule on its own, where it is cheapest to push hard.
    text = normalise_reason(None if reason == "<missing>" else reason)
    assert type(text) is str
    assert len(text.encode("utf-8")) <= 123
    assert normalise_reason(text) == text  # normalising twice changes nothing
