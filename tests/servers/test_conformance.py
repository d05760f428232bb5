"""The close contract on seven real server setups, read by the real ``websockets`` client.

One test per (server, scenario): the guarded outcome must read exactly as
:data:`tests.servers.expectations.CONTRACT` says, except in the cells
:data:`~tests.servers.expectations.DEVIATIONS` documents (a fallback, or a server behaviour no
middleware can change), which must read exactly as documented. The raw side is recorded for
``docs/servers.md``, which must match what this run observed.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.servers.apps import SECRET
from tests.servers.browser_checks import observe_browser
from tests.servers.conftest import Started, observe_all, server_for
from tests.servers.expectations import CONTRACT, DEVIATIONS, expected, observed
from tests.servers.observe import (
    CONFIRMATIONS,
    SCENARIO_IDS,
    SCENARIOS,
    SIDES,
    Outcome,
    Side,
    observe_one,
)
from tests.servers.report import REGENERATE, BrowserObservations, render, stale_diff
from tests.support.servers import SERVER_KINDS

pytestmark = pytest.mark.server

Observations = dict[str, dict[tuple[str, Side], Outcome]]
SCENARIOS_BY_ID = {scenario.id: scenario for scenario in SCENARIOS}


def outcome_of(
    started: Started, observations: Observations, kind: str, scenario: str, side: Side
) -> Outcome:
    server_for(started, kind)  # fails with the server's output if it never started
    return observations[kind][(scenario, side)]


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_guarded_outcome_is_the_contract(
    kind: str, scenario: str, started_servers: Started, observations: Observations
) -> None:
    outcome = outcome_of(started_servers, observations, kind, scenario, "guarded")
    want = expected(kind, scenario)
    attempts = [observed(outcome)]
    row = SCENARIOS_BY_ID[scenario]
    while attempts[-1] != want and len(attempts) <= CONFIRMATIONS:
        again = asyncio.run(observe_one(server_for(started_servers, kind), row, "guarded"))
        attempts.append(observed(again))
    deviation = DEVIATIONS.get((kind, scenario))
    why = f" ({deviation.category}: {', '.join(deviation.notes)})" if deviation else ""
    assert attempts[-1] == want, f"{kind} / {scenario}{why}; every attempt: {attempts}"


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_no_connection_is_left_open_behind_the_guard(
    kind: str, started_servers: Started, observations: Observations
) -> None:
    left_open = [
        scenario
        for scenario in SCENARIO_IDS
        if outcome_of(started_servers, observations, kind, scenario, "guarded").client.left_open
    ]
    assert left_open == []


@pytest.mark.parametrize("kind", SERVER_KINDS)
@pytest.mark.parametrize("scenario", ["crash", "timeout", "crash-before-accept"])
def test_exception_text_never_reaches_the_client(
    kind: str, scenario: str, started_servers: Started, observations: Observations
) -> None:
    for side in SIDES:
        view = outcome_of(started_servers, observations, kind, scenario, side).client
        assert SECRET not in (view.close_reason or "")


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_long_reason_is_cut_at_a_character_boundary(
    kind: str, started_servers: Started, observations: Observations
) -> None:
    outcome = outcome_of(started_servers, observations, kind, "close-reason-150", "guarded")
    report = outcome.app or {}
    after_close = report["next_receive"]["event"]
    reason = after_close["reason"]
    # What the guard sent: 60 of the 75 two-byte characters and the mark, 123 bytes.
    assert reason == "é" * 60 + "…"
    assert len(reason.encode()) == 123
    if kind != "daphne":  # daphne sends no reason at all (documented)
        assert outcome.client.close_reason == reason


def test_every_scenario_has_a_contract_row() -> None:
    assert set(CONTRACT) == set(SCENARIO_IDS)
    assert {scenario for _, scenario in DEVIATIONS} <= set(SCENARIO_IDS)
    assert {kind for kind, _ in DEVIATIONS} <= set(SERVER_KINDS)


@pytest.mark.browser
def test_docs_servers_md_matches_what_the_servers_did(
    started_servers: Started,
    observations: Observations,
    browser_observations: BrowserObservations,
    implementations: dict[str, str],
) -> None:
    # The "At shutdown" section has its own check, in tests/shutdown.
    servers = {kind: server_for(started_servers, kind) for kind in SERVER_KINDS}
    renders = [render(observations, browser_observations, implementations=implementations)]
    diff = stale_diff(renders, part="conformance")
    for _ in range(CONFIRMATIONS):
        if not diff:
            break
        # Look again before calling the page stale (see CONFIRMATIONS).
        again = asyncio.run(observe_all(servers))
        browser = asyncio.run(observe_browser(servers))
        renders.append(render(again, browser, implementations=implementations))
        diff = stale_diff(renders, part="conformance")
    assert not diff, (
        f"docs/servers.md no longer matches the servers; regenerate it with `{REGENERATE}`\n" + diff
    )
