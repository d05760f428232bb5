"""The TypeScript declarations ``export-js --types`` prints: compiled with ``tsc --strict``.

tests/js/typical_use.ts is what a front end writes with the module; it must compile against the
declarations, and every line it marks ``@ts-expect-error`` must not. TypeScript comes from npm,
installed by this test run into a cache directory outside the repository
(``$ASGI_CLOSEGUARD_TEST_CACHE``, by default ``~/.cache/asgi-closeguard-tests``) and reused by
later runs. A missing ``npm`` or a failed install is a failure with a clear message, never a
skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from asgi_closeguard import LANGUAGES
from asgi_closeguard._export_js import export_js, export_types
from tests.js.test_node import node_executable

TYPICAL_USE = Path(__file__).with_name("typical_use.ts")
TYPESCRIPT = "typescript@5"
INSTALL_TIMEOUT_SECONDS = 300
TSC_TIMEOUT_SECONDS = 120
#: The options of a strict front-end project: ES modules, the DOM's types.
TSC_OPTIONS = (
    "--strict",
    "--noEmit",
    "--target",
    "es2022",
    "--module",
    "es2022",
    "--moduleResolution",
    "bundler",
    "--lib",
    "es2022,dom",
    "--verbatimModuleSyntax",
    "--noUnusedLocals",
)


def cache_directory() -> Path:
    configured = os.environ.get("ASGI_CLOSEGUARD_TEST_CACHE")
    root = Path(configured) if configured else Path.home() / ".cache" / "asgi-closeguard-tests"
    return root / "typescript5"


def typescript_compiler() -> Path:
    """The path of ``tsc``, installed from npm into the cache directory on first use."""
    prefix = cache_directory()
    tsc = prefix / "node_modules" / "typescript" / "bin" / "tsc"
    if tsc.is_file():
        return tsc
    npm = shutil.which("npm")
    assert npm is not None, (
        "npm not found: the TypeScript test installs TypeScript from npm. Install Debian's npm "
        "package (or Node.js with npm), or put TypeScript 5 in "
        f"{prefix}/node_modules yourself"
    )
    prefix.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            npm,
            "install",
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(prefix),
            TYPESCRIPT,
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
        check=False,
    )
    failure = (
        f"`npm install {TYPESCRIPT}` into {prefix} failed (status {result.returncode}):\n"
        f"{result.stdout}\n{result.stderr}"
    )
    assert result.returncode == 0, failure
    assert tsc.is_file(), failure
    return tsc


def compile_typescript(directory: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node_executable(), str(typescript_compiler()), *TSC_OPTIONS, *files],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=TSC_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A front end's folder: the module, its declarations and the typical use."""
    (tmp_path / "closeguard.js").write_text(export_js(), encoding="utf-8")
    (tmp_path / "closeguard.d.ts").write_text(export_types(), encoding="utf-8")
    shutil.copy(TYPICAL_USE, tmp_path / "typical_use.ts")
    return tmp_path


def test_a_typical_use_compiles_under_tsc_strict(project: Path) -> None:
    result = compile_typescript(project, "typical_use.ts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_what_the_types_refuse_does_not_compile(project: Path) -> None:
    # Without its @ts-expect-error markers, each refused line is a compile error of its own.
    source = (project / "typical_use.ts").read_text(encoding="utf-8")
    refused = source.count("// @ts-expect-error")
    (project / "typical_use.ts").write_text(
        re.sub(r"^// @ts-expect-error.*$", "", source, flags=re.MULTILINE), encoding="utf-8"
    )
    result = compile_typescript(project, "typical_use.ts")
    errors = [line for line in result.stdout.splitlines() if ": error TS" in line]
    assert refused >= 5
    assert len(errors) == refused, result.stdout


def test_the_declarations_name_exactly_the_modules_exports(tmp_path: Path) -> None:
    declared = sorted(
        re.findall(r"^export declare (?:function|const) (\w+)", export_types(), re.MULTILINE)
    )
    module = tmp_path / "closeguard.js"
    module.write_text(export_js(), encoding="utf-8")
    script = (
        f"const m = await import({json.dumps(module.as_uri())});"
        "console.log(JSON.stringify(Object.keys(m).sort()));"
    )
    result = subprocess.run(
        [node_executable(), "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == declared


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_language_type_is_the_modules_languages(lang: str) -> None:
    assert f"export type Language = {json.dumps(lang)};" in export_types([lang])
    union = " | ".join(json.dumps(each) for each in LANGUAGES)
    assert f"export type Language = {union};" in export_types()


def test_the_reconnect_advice_is_a_union_of_three() -> None:
    assert 'export type Reconnect = "no" | "yes" | "backoff";' in export_types()
