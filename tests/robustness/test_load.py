"""Load: 200 concurrent connections, two waves, against uvicorn and gunicorn running the guard.

gunicorn's ASGI worker is the newest WebSocket implementation of the seven setups, so it carries
the load here too. The full size (1,000 connections on every setup) is
``python -m tests.robustness.load --connections 1000 --waves 2 --servers all``;
docs/robustness.md has its figures.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.robustness.load import make_plans, run_load


def test_plans_are_a_tenth_each_and_reproducible() -> None:
    plans = make_plans(200, seed=7)
    assert Counter(plan.mode for plan in plans) == {
        "crash": 20,
        "return": 20,
        "close": 20,
        "echo": 140,
    }
    assert plans == make_plans(200, seed=7)
    assert plans != make_plans(200, seed=8)
    assert {plan.expected_code for plan in plans if plan.mode == "crash"} == {1011}
    assert all(4000 <= plan.expected_code <= 4999 for plan in plans if plan.mode == "close")


@pytest.mark.server
@pytest.mark.parametrize("kind", ["uvicorn-wsproto", "gunicorn"])
def test_every_client_sees_the_close_its_handler_called_for(kind: str) -> None:
    reports = run_load(kind, connections=200, waves=2, timeout=60)
    assert len(reports) == 2
    for report in reports:
        assert report.problems == [], report.line()
        assert report.peak_open == 200, report.line()  # all 200 were open at once
        assert report.codes[1011] == 20
        assert report.codes[1000] == 160  # 20 handlers returned, 140 clients closed
        assert sum(n for code, n in report.codes.items() if code and code >= 4000) == 20
        # One traceback per crash: the server logs what the guard re-raises, once.
        assert report.tracebacks == report.crashes == 20, report.line()
        assert report.still_echoes, report.line()
        assert report.server_alive, report.line()


@pytest.mark.server
def test_without_the_guard_the_same_load_goes_wrong() -> None:
    # The check above is only worth something if it can fail: on uvicorn a crash or a return
    # without close leaves the client with no close frame at all (1006).
    (report,) = run_load("uvicorn-wsproto", connections=50, waves=1, guarded=False, timeout=30)
    assert report.codes[1006] == 10, report.line()  # 5 crashed, 5 returned
    assert len(report.problems) == 10, report.line()
    assert report.server_alive, report.line()
