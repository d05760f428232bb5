"""A rolling deploy behind HAProxy, on the seven server setups: the claims of docs/deploying.md.

Two instances of each setup behind HAProxy (Debian's package, installed by the run when
missing), clients that reconnect the moment they are closed (no jitter: the worst case), and
instance A deployed: drained, then ``SIGTERM``. The figures of the docs' table come from
``python -m benchmarks.deploy --markdown`` (300 clients, a 5 s spread); the suite checks the same
claims with fewer clients and a shorter spread:

- every one of A's clients got 1012 (4012 on daphne), none a missing close frame;
- the busiest 100 ms of new handshakes at B holds at most 8 times the mean rate over the spread
  (raw: every client at once, about 20 times);
- the drain ended within the spread plus a short bound, and A exited promptly after the signal,
  with nothing left open and no error line in its log;
- every client ended up connected again.
"""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.deploy import NO_FRAME, DeployResult, deploy
from tests.support.servers import SERVER_KINDS

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(180)]

CLIENTS = 100
SPREAD = 2.0
#: How much longer than the spread a drain may take: the last connection's closing handshake.
DRAIN_BOUND = 1.5
#: After a drain nothing is left open: every setup exits well within this after SIGTERM
#: (gunicorn's master takes about a second to reap its worker).
EXIT_AFTER_DRAIN = 5.0
#: The busiest 100 ms against the mean rate over the spread. About 50 of the clients are on A,
#: so the mean is 2.5 handshakes per 100 ms, and a stall of a few hundred ms on 2 busy cores
#: (of the clients' one event loop, or of B) lets a dozen complete together: 4.8 times the mean
#: was seen once in a full CI run. Raw, all of A's clients land in one 100 ms: about 20 times.
PEAK_RATIO = 8.0


def come_back_code(kind: str) -> str:
    # daphne 4.2.3 refuses 1012 (autobahn takes only 1000 and 3000-4999): the guard's fallback
    # keeps the meaning, 4012.
    return "4012" if kind == "daphne" else "1012"


def run_deploy(kind: str, *, guarded: bool) -> DeployResult:
    return asyncio.run(deploy(kind, guarded=guarded, clients=CLIENTS, spread=SPREAD))


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_drained_instance_spreads_its_closes_and_every_client_comes_back(kind: str) -> None:
    result = run_deploy(kind, guarded=True)
    assert result.on_a > CLIENTS / 4, "HAProxy sent too few clients to A to measure anything"
    assert result.codes == {come_back_code(kind): result.on_a}, result
    assert NO_FRAME not in result.codes
    assert result.peak_ratio is not None
    assert result.peak_ratio <= PEAK_RATIO, result
    assert result.drain_seconds is not None
    assert result.drain_seconds <= SPREAD + DRAIN_BOUND, result
    assert result.exit_seconds is not None
    assert result.exit_seconds <= EXIT_AFTER_DRAIN, result
    assert result.error_lines == [], result.error_lines
    assert result.reconnected == CLIENTS


def test_without_a_drain_every_client_of_the_instance_comes_back_at_once() -> None:
    # The storm the drain prevents, on the fastest setup to stop: uvicorn closes every socket
    # with 1012 within milliseconds, and all of A's clients hit B in the same 100 ms.
    result = run_deploy("uvicorn-websockets-sansio", guarded=False)
    assert result.codes == {"1012": result.on_a}
    assert result.busiest_100ms >= result.on_a * 0.9, result
    assert result.reconnected == CLIENTS
