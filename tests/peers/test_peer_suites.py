"""Starlette's and FastAPI's own WebSocket tests, run raw and with the guard around every app.

For the installed version of each framework, its sdist's ``tests/`` (see :mod:`.sources`) run
twice in a subprocess pytest: raw, and with :mod:`.closeguard_plugin` wrapping every app given to
``TestClient`` in ``CloseGuardMiddleware``. Every test that calls ``websocket_connect`` is in,
file by file, except the files listed in :data:`EXCLUDED` (they need packages this project does
not install). The guard must be transparent: a test whose outcome changes must be a row of
:data:`CHANGES`, naming the contract row that explains it; any other change fails, and so does a
row whose change is gone.

FastAPI's ``test_websocket_dependency_after_yield_broken`` also runs in a loop behind the guard:
the app's ``ValueError`` must escape every time.

Everything starts at once: about 25 s on two busy cores, once the sdists are cached (they are
downloaded once per version).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.runs import Finished, Run, outcome_changes
from tests.peers.sources import peer_tree

PEERS = ("starlette", "fastapi")

# The module's fixture downloads (at most 120 s, both sdists at once) and runs everything (at
# most RUN_DEADLINE); the suite's 120 s per test would cut a cold start on a loaded machine.
pytestmark = pytest.mark.timeout(420)

#: Every run, started together, must end within this many seconds (a loaded CI machine).
RUN_DEADLINE = 240.0

#: Peer test files that open WebSockets but import packages this project does not install;
#: ``pyproject.toml`` would need them in its ``test`` extra to run these.
EXCLUDED: dict[str, dict[str, str]] = {
    "starlette": {},
    "fastapi": {
        "tests/test_path_alias_choices.py": "needs inline-snapshot",
        "tests/test_security_http_base_optional.py": "needs inline-snapshot",
        "tests/test_security_http_bearer.py": "needs inline-snapshot",
        "tests/test_parameter_extraction.py": "needs python-multipart (its form tests)",
        "tests/test_request_body_limits.py": "needs python-multipart (its form tests)",
        "tests/test_telemetry/test_data.py": "needs opentelemetry-exporter-otlp",
        "tests/test_telemetry/test_integrations.py": (
            "needs sentry-sdk, logfire, opentelemetry-instrumentation-fastapi"
        ),
        "tests/test_telemetry/test_native_integrations.py": "needs sentry-sdk and logfire",
    },
}

#: Peer tests that fail raw here, for reasons that have nothing to do with WebSockets; they must
#: fail the same way behind the guard (any other raw failure fails the comparison).
RAW_FAILURES: dict[str, str] = {
    "tests/test_staticfiles.py::test_staticfiles_with_invalid_dir_permissions_returns_401": (
        "chmod does not lock out root, and CI runs as root"
    ),
    "tests/test_websockets.py::test_websocket_headers": (
        "expects httpx2 to accept zstd: needs httpx2[zstd] (backports.zstd before Python 3.14)"
    ),
}

#: The contract rows that explain a changed outcome (docs/contract.md).
ECHO_DROPPED = (
    "When the app raises after the client's disconnect: a WebSocketDisconnect that only echoes "
    "the client's own close is not an error; the guard logs it at debug level and drops it, so "
    "pytest.raises(WebSocketDisconnect) around a session the test itself closed sees nothing."
)


@dataclass(frozen=True)
class Change:
    """A peer test whose outcome differs behind the guard, and why."""

    nodeid: str
    raw: str
    guarded: str
    message: tuple[str, ...]  # fragments of the guarded failure's message (pytest words it)
    contract_row: str


def _did_not_raise_disconnect(nodeid: str) -> Change:
    return Change(
        nodeid, "passed", "failed", ("DID NOT RAISE", "WebSocketDisconnect"), ECHO_DROPPED
    )


#: Every outcome that changes behind the guard, per peer.
CHANGES: dict[str, list[Change]] = {
    "starlette": [],
    "fastapi": [
        # The test closes (1000, 1001, 1006 "abnormal") and expects the handler's
        # WebSocketDisconnect out of TestClient; FastAPI's spans are unchanged.
        *(
            _did_not_raise_disconnect(
                f"tests/test_telemetry/test_websockets.py::test_client_disconnect[{code}]"
            )
            for code in (1000, 1001, 1006)
        ),
        # The tutorials' tests leave the `with websocket_connect()` block, which closes with 1000,
        # and expect the endpoint's WebSocketDisconnect.
        _did_not_raise_disconnect(
            "tests/test_tutorial/test_websockets/test_tutorial001.py::test_websocket"
        ),
        *(
            _did_not_raise_disconnect(
                f"tests/test_tutorial/test_websockets/test_tutorial002.py::{test}[{module}]"
            )
            for test in (
                "test_websocket_with_cookie",
                "test_websocket_with_header",
                "test_websocket_with_header_and_query",
            )
            for module in ("tutorial002_non_an", "tutorial002")
        ),
    ],
}

#: The loop: this many runs, or this many seconds, whichever ends first; at least MIN_RUNS.
LOOP_RUNS, LOOP_SECONDS, LOOP_MIN_RUNS = 300, 45.0, 100


def websocket_test_files(peer: str, tree: Path) -> list[str]:
    """The peer's test files that open a WebSocket through TestClient, minus :data:`EXCLUDED`."""
    found = sorted(
        path.relative_to(tree).as_posix()
        for path in (tree / "tests").rglob("test_*.py")
        if "websocket_connect" in path.read_text(encoding="utf-8")
    )
    return [name for name in found if name not in EXCLUDED[peer]]


@dataclass
class PeerRuns:
    """Both runs of one peer's files."""

    files: list[str]
    raw: Finished
    guarded: Finished


@dataclass
class Results:
    """Everything the module's tests read."""

    peers: dict[str, PeerRuns]
    loop: Finished


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Results]:
    """Download (once), then run both peers raw and guarded and the loop, all at once."""
    with ThreadPoolExecutor(len(PEERS)) as pool:
        trees = dict(zip(PEERS, pool.map(peer_tree, PEERS), strict=True))
    outcomes = tmp_path_factory.mktemp("outcomes")
    files = {peer: websocket_test_files(peer, tree) for peer, tree in trees.items()}
    runs = {
        (peer, side): Run.pytest(
            trees[peer], files[peer], outcomes / f"{peer}-{side}.json", guarded=side == "guarded"
        )
        for peer in PEERS
        for side in ("raw", "guarded")
    }
    loop = Run.script(
        trees["fastapi"], "loop_broken_dependency.py", str(LOOP_RUNS), str(LOOP_SECONDS)
    )
    try:
        deadline = time.monotonic() + RUN_DEADLINE
        finished = {key: run.wait(deadline) for key, run in runs.items()}
        yield Results(
            peers={
                peer: PeerRuns(files[peer], finished[peer, "raw"], finished[peer, "guarded"])
                for peer in PEERS
            },
            loop=loop.wait(deadline),
        )
    finally:
        for run in [*runs.values(), loop]:
            run.kill()


def _base(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def _check_completed(run: Finished, side: str) -> None:
    # pytest exits 0 (all passed) or 1 (some failed); anything else — collection errors (2),
    # internal errors, a kill at the deadline — means the comparison has nothing to compare.
    assert run.returncode in (0, 1), (
        f"the {side} run did not complete (exit {run.returncode}):\n{run.output[-4000:]}"
    )
    assert run.outcomes, f"the {side} run recorded no outcome:\n{run.output[-4000:]}"


@pytest.mark.parametrize("peer", PEERS)
def test_raw_run_passes_but_for_known_environment_failures(results: Results, peer: str) -> None:
    runs = results.peers[peer]
    _check_completed(runs.raw, "raw")
    assert len(runs.files) >= 3, runs.files
    failed = {
        nodeid: entry
        for nodeid, entry in runs.raw.outcomes.items()
        if entry["outcome"] not in ("passed", "skipped", "xfailed")
    }
    unexplained = {nodeid: e for nodeid, e in failed.items() if _base(nodeid) not in RAW_FAILURES}
    assert not unexplained, f"{peer}'s own tests fail without the guard:\n{unexplained}"


@pytest.mark.parametrize("peer", PEERS)
def test_guarded_outcomes_differ_only_by_contract_rows(results: Results, peer: str) -> None:
    runs = results.peers[peer]
    _check_completed(runs.raw, "raw")
    _check_completed(runs.guarded, "guarded")
    changes = outcome_changes(runs.raw.outcomes, runs.guarded.outcomes)
    expected = {change.nodeid: change for change in CHANGES[peer]}
    unexplained = {nodeid: seen for nodeid, seen in changes.items() if nodeid not in expected}
    gone = sorted(set(expected) - set(changes))
    wrong = {
        nodeid: seen
        for nodeid, seen in changes.items()
        if nodeid in expected
        and (
            seen[:2] != (expected[nodeid].raw, expected[nodeid].guarded)
            or not all(fragment in seen[2] for fragment in expected[nodeid].message)
        )
    }
    assert not unexplained, (
        f"{peer}: outcomes behind the guard that no contract row explains "
        f"(node id: raw, guarded, message):\n"
        + "\n".join(f"{k}: {v}" for k, v in unexplained.items())
    )
    assert not wrong, f"{peer}: changed differently than CHANGES says:\n{wrong}"
    assert not gone, f"{peer}: these CHANGES rows no longer change; remove them:\n{gone}"


def test_broken_dependency_loop_never_loses_the_value_error(results: Results) -> None:
    loop = results.loop
    assert loop.returncode == 0, f"the loop failed (exit {loop.returncode}):\n{loop.output[-4000:]}"
    summary = json.loads(loop.output.strip().splitlines()[-1])
    assert summary["runs"] >= LOOP_MIN_RUNS, summary
    assert summary["lost"] == 0, (
        f"the app's ValueError was lost behind the guard in {summary['lost']} of "
        f"{summary['runs']} runs; instead: {summary['instead']}"
    )
