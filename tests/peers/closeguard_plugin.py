"""A pytest plugin for the peers' own suites: ``-p closeguard_plugin``.

It is loaded by a peer's pytest run (Starlette's or FastAPI's ``tests/``), not by ours, so it
imports nothing from our ``tests`` package: the peers' test packages are called ``tests`` too.
The directory holding this file goes on ``PYTHONPATH`` and the plugin is imported by its own
name.

* Always: it registers the ``xdist_group`` marker FastAPI's tests use (pytest-xdist is not
  installed here, and FastAPI runs with ``--strict-markers``).
* ``--closeguard-outcomes=PATH``: writes ``{node id: {"outcome", "message"}}`` as JSON when the
  session ends, for the raw and guarded runs to be compared test by test.
* ``--closeguard-wrap``: every app handed to ``starlette.testclient.TestClient`` (FastAPI's
  ``TestClient`` is the same class) is wrapped in ``CloseGuardMiddleware`` with its defaults, so
  each peer test talks to its app through the guard. The patch is installed before the peer's
  conftest files and test modules are imported: FastAPI's tests build clients at import time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

WRAP_OPTION = "--closeguard-wrap"
OUTCOMES_OPTION = "--closeguard-outcomes"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--closeguard-wrap`` and ``--closeguard-outcomes``."""
    parser.addoption(
        WRAP_OPTION,
        action="store_true",
        default=False,
        help="wrap every app given to starlette.testclient.TestClient in CloseGuardMiddleware",
    )
    parser.addoption(
        OUTCOMES_OPTION,
        default=None,
        help="write every test's outcome to this JSON file",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Install the TestClient patch when asked, before any conftest is imported."""
    if early_config.known_args_namespace.closeguard_wrap:
        wrap_every_test_client()


def pytest_configure(config: pytest.Config) -> None:
    """Register FastAPI's marker; install the outcome recorder when asked."""
    config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's grouping marker")
    outcomes = config.getoption(OUTCOMES_OPTION)
    if outcomes:
        config.pluginmanager.register(OutcomeRecorder(Path(outcomes)), "closeguard-outcomes")


def wrap_every_test_client() -> None:
    """Patch ``TestClient.__init__`` so its app runs behind ``CloseGuardMiddleware``.

    Idempotent: a second call does not wrap twice.
    """
    from starlette import testclient
    from starlette.testclient import TestClient

    from asgi_closeguard import CloseGuardMiddleware

    original = TestClient.__init__
    if getattr(original, "closeguard_wrapped", False):
        return

    def guarded_init(self: TestClient, app: Any, *args: Any, **kwargs: Any) -> None:
        # TestClient also takes ASGI 2 apps (a callable of the scope alone) and adapts them
        # itself; the guard speaks ASGI 3 only, so the same adapter goes inside it.
        if not testclient._is_asgi3(app):
            app = testclient._WrapASGI2(app)
        original(self, CloseGuardMiddleware(app), *args, **kwargs)

    guarded_init.closeguard_wrapped = True  # type: ignore[attr-defined]
    TestClient.__init__ = guarded_init  # type: ignore[method-assign]


class OutcomeRecorder:
    """Collects one outcome per test node id and writes them at the end of the session.

    Outcomes: ``passed``, ``failed``, ``skipped``, ``xfailed``, ``xpassed``, ``error in setup``;
    a teardown error is appended (``passed, error in teardown``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.outcomes: dict[str, dict[str, str]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold each phase's report into the test's one outcome."""
        outcome = _phase_outcome(report)
        if outcome is None:
            return
        entry = self.outcomes.setdefault(report.nodeid, {"outcome": "", "message": ""})
        entry["outcome"] = f"{entry['outcome']}, {outcome}" if entry["outcome"] else outcome
        if report.failed and not entry["message"]:
            entry["message"] = _crash_message(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write the outcomes."""
        self.path.write_text(json.dumps(self.outcomes, indent=1, sort_keys=True))


def _phase_outcome(report: pytest.TestReport) -> str | None:
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if xfail:
            return "xfailed" if report.skipped else "xpassed"
        return str(report.outcome)
    if report.when == "setup" and report.skipped:
        return "xfailed" if xfail else "skipped"
    if report.failed:
        return f"error in {report.when}"
    return None


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None) or str(report.longrepr)
    return message.strip().splitlines()[0][:300] if message.strip() else ""
