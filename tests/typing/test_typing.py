"""The guard's options type-check where they are passed: ``mypy --strict`` passes on a small
typed app per framework (``*_app.py`` here), and fails on every misspelt option
(``misspelt.py``: exactly the lines marked ``# misspelt``). One definition of the options,
``GuardOptions``, follows ``CloseGuardMiddleware``'s own keyword options."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard._options import GuardOptions

HERE = Path(__file__).parent
REPO_ROOT = HERE.parent.parent
APPS = sorted(HERE.glob("*_app.py"))


def _mypy(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *map(str, paths)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_guard_options_are_the_guards_keyword_options() -> None:
    parameters = inspect.signature(CloseGuardMiddleware.__init__).parameters.values()
    keyword_only = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(GuardOptions.__optional_keys__) == keyword_only
    assert not GuardOptions.__required_keys__


def test_a_typed_app_per_framework_passes_mypy_strict() -> None:
    assert {path.stem for path in APPS} == {
        "fastapi_app",
        "litestar_app",
        "quart_app",
        "falcon_app",
        "blacksheep_app",
        "channels_app",
    }
    result = _mypy(*APPS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", [HERE / "misspelt.py"], ids=["misspelt"])
def test_a_misspelt_option_fails_mypy_strict(path: Path) -> None:
    marked = {
        number
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.endswith("# misspelt")
    }
    result = _mypy(path)
    failed = {
        int(found.group(1))
        for found in re.finditer(
            rf"^{re.escape(str(path.relative_to(REPO_ROOT)))}:(\d+): error:",
            result.stdout,
            re.MULTILINE,
        )
    }
    assert result.returncode == 1, result.stdout + result.stderr
    assert failed == marked, result.stdout
