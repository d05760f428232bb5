"""connect() of the exported module under Node.js: one pytest test per test of
tests/js/connect.test.mjs.

The JavaScript file holds the tests (a fake WebSocket, a fake clock and a chosen random source:
every delay is an exact number and nothing waits for real time); one Node.js process runs them
all against a module exported with :data:`APP_CODES`, and each test here reads its own result.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from asgi_closeguard import AppCode
from asgi_closeguard._export_js import export_js
from tests.js.test_node import NODE_TIMEOUT_SECONDS, node_executable

TESTS_SCRIPT = Path(__file__).with_name("connect.test.mjs")

#: The app codes the JavaScript tests expect in the module.
APP_CODES = {
    4001: AppCode("Kicked", "An admin removed you from the room.", reconnect="no"),
    4029: AppCode("Room full", "The room has no free seat.", reconnect="backoff"),
    4100: AppCode("Moved", "The room moved to another server: come back.", reconnect="yes"),
}

#: The names of the JavaScript tests, in order: test("...", ...) or test('...', ...).
TEST_NAMES = [
    double or single
    for double, single in re.findall(
        r"""^test\(\s*(?:"([^"]*)"|'([^']*)')""",
        TESTS_SCRIPT.read_text(encoding="utf-8"),
        re.MULTILINE,
    )
]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    module = tmp_path_factory.mktemp("connect") / "closeguard.js"
    module.write_text(export_js(app_codes=APP_CODES), encoding="utf-8")
    completed = subprocess.run(
        [node_executable(), str(TESTS_SCRIPT), str(module)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    outcome: dict[str, str | None] = json.loads(completed.stdout)
    return outcome


def test_every_javascript_test_ran(results: dict[str, str | None]) -> None:
    assert len(TEST_NAMES) >= 20
    assert list(results) == TEST_NAMES


@pytest.mark.parametrize("name", TEST_NAMES)
def test_connect(name: str, results: dict[str, str | None]) -> None:
    failure = results[name]
    assert failure is None, failure
