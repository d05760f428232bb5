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
