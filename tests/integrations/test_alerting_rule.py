"""The alerting rule of ``docs/observability.md``, as it stands: ``promtool check rules`` takes
it, and ``promtool test rules`` shows when it fires and when it does not, on series shaped as
``CloseMetrics`` writes them (the rule against a real server is in ``test_promql.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integrations.observability_docs import alerting_rules
from tests.integrations.prometheus_process import promtool

ALERT = "WebSocketHandlersCrashing"
CLOSES = "websocket_server_closes_total"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "websocket-closes.yml"
    path.write_text(alerting_rules())
    return path


def test_promtool_checks_the_rule(rules: Path) -> None:
    checked = promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rules found" in checked.stdout


def series(route: str, per_minute: int, **labels: str) -> dict[str, str]:
    """A counter of ``CloseMetrics`` that grows by ``per_minute`` every minute for 30 minutes."""
    every = {"code": "1000", "closed_by": "client", "exception": "", "route": route, **labels}
    selector = ",".join(f'{name}="{value}"' for name, value in every.items())
    return {"series": f"{CLOSES}{{{selector}}}", "values": f"0+{per_minute}x30"}


def crashes(route: str, per_minute: int, **labels: str) -> dict[str, str]:
    guard = {"code": "1011", "closed_by": "guard", "exception": "myapp.Boom"}
    return series(route, per_minute, **{**guard, **labels})


def firing(route: str, share: str) -> dict[str, Any]:
    description = (
        f"{share} of connections on {route} closed because the handler raised. Break it down "
        f'by exception: sum by (exception) (increase({CLOSES}{{route="{route}", '
        'exception!=""}[1h]))'
    )
    return {
        "exp_labels": {"route": route, "severity": "page"},
        "exp_annotations": {
            "summary": f"WebSocket handler on {route} is crashing",
            "description": description,
        },
    }


#: (what the series are, the firing alerts expected at 12 and at 25 minutes). Crashes start at
#: once; the rule's second condition holds from the fifth one, and its `for:` is 10 minutes.
CASES = {
    "a tenth of the connections crash": (
        [crashes("/chat", 1), series("/chat", 9)],
        [],
        [firing("/chat", "10%")],
    ),
    "daphne: the crash is closed by the server, no code": (
        [crashes("/chat", 1, code="none", closed_by="server"), series("/chat", 9)],
        [],
        [firing("/chat", "10%")],
    ),
    "one in a hundred: under 2 %": (
        [crashes("/chat", 1), series("/chat", 99)],
        [],
        [],
    ),
    "every connection crashes, but three an hour": (
        [{**crashes("/rare", 1), "values": "0+0.05x30"}],
        [],
        [],
    ),
    "a mapped exception counts; other routes stay quiet": (
        [
            crashes("/slow", 1, code="1013", exception="TimeoutError"),
            series("/slow", 1),
            series("/chat", 50),
        ],
        [],
        [firing("/slow", "50%")],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_when_the_rule_fires(rules: Path, tmp_path: Path, case: str) -> None:
    input_series, at_12m, at_25m = CASES[case]
    unit_tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [
                    {"eval_time": "12m", "alertname": ALERT, "exp_alerts": at_12m},
                    {"eval_time": "25m", "alertname": ALERT, "exp_alerts": at_25m},
                ],
            }
        ],
    }
    path = tmp_path / "tests.yml"
    path.write_text(json.dumps(unit_tests, indent=2))  # JSON is YAML
    tested = promtool("test", "rules", str(path))
    assert tested.returncode == 0, tested.stdout + tested.stderr
