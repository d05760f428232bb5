"""The shutdown runs, made once per session: every setup raw and guarded, and the deploy runs.

They all start at once (about 20 server processes and one Chromium) and take about 20 s: each
run ends its server, so nothing can be shared with the conformance suite's servers.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.shutdown.deploying import DEPLOY_RUNS
from tests.shutdown.report import shutdown_runs
from tests.shutdown.run import Run, RunResult, observe_runs

Results = dict[Run, RunResult]


@pytest.fixture(scope="session")
def shutdown_results() -> Results:
    """Every main run and every deploy run, observed together."""
    return asyncio.run(observe_runs([*shutdown_runs(), *DEPLOY_RUNS.values()]))


def deploy_result(results: Results, name: str) -> RunResult:
    """The deploy run ``name`` of :data:`~tests.shutdown.deploying.DEPLOY_RUNS`; fails the
    test with the server's output if the run could not be made."""
    result = results[DEPLOY_RUNS[name]]
    if result.failure:
        pytest.fail(f"{name}: {result.failure}\n{result.output[-3000:]}", pytrace=False)
    return result
