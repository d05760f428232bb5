"""The asgi-closeguard command: golden output, JSON, and every way input can be wrong.

Golden files live in tests/golden/. After a deliberate change to the texts or the layout,
regenerate them with ``UPDATE_GOLDEN=1 python -m pytest tests/test_cli.py`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import io
import json
import os
import runpy
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from asgi_closeguard import (
    LANGUAGES,
    CloseCode,
    __version__,
    compare,
    describe,
    describe_range,
)
from asgi_closeguard._cli import main
from asgi_closeguard._codes import CODE_RANGES
from asgi_closeguard._export_js import export_js, export_types
from asgi_closeguard._knowledge import interface_texts

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
ERROR_PREFIX = "asgi-closeguard: error: "


@pytest.fixture(autouse=True)
def terminal_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    # shutil.get_terminal_size() reads $COLUMNS first: output no longer depends on the terminal.
    monkeypatch.setenv("COLUMNS", "80")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


# --- golden output -----------------------------------------------------------------------------

GOLDEN_CASES = {
    "explain_1006_en.txt": ["explain", "1006"],
    "explain_1006_ko.txt": ["explain", "1006", "--lang", "ko"],
    "explain_1008_en.txt": ["explain", "1008"],
    "explain_4001_en.txt": ["explain", "4001"],
    "explain_4001_ko.txt": ["explain", "4001", "--lang", "ko"],
    "compare_1005_1011_en.txt": ["compare", "1005", "1011"],
    "compare_1005_1011_ko.txt": ["compare", "1005", "1011", "--lang", "ko"],
    "compare_1012_1013_en.txt": ["compare", "1012", "1013"],
    "compare_1012_1013_ko.txt": ["compare", "1012", "1013", "--lang", "ko"],
    "list_en.txt": ["list"],
    "list_ko.txt": ["list", "--lang", "ko"],
    "explain_1011_ko.json": ["explain", "1011", "--lang", "ko", "--json"],
    "explain_1012_en.txt": ["explain", "1012"],
    "export_js.js": ["export-js"],
    "export_js.d.ts": ["export-js", "--types"],
}


@pytest.mark.parametrize(("name", "argv"), GOLDEN_CASES.items(), ids=list(GOLDEN_CASES))
def test_golden_output(name: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(argv, capsys)
    assert (status, err) == (0, "")
    golden = GOLDEN / name
    if UPDATE_GOLDEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8"), (
        f"{name} changed; if on purpose, rerun with UPDATE_GOLDEN=1 and review the diff"
    )


def test_every_golden_file_is_checked() -> None:
    assert {path.name for path in GOLDEN.iterdir() if path.suffix != ".md"} == set(GOLDEN_CASES)


def test_the_golden_declarations_are_those_of_the_golden_module() -> None:
    assert (GOLDEN / "export_js.d.ts").read_text(encoding="utf-8") == export_types()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("code", [*CloseCode, 0, 1016, 3001, 4999, 65535], ids=str)
def test_explain_has_the_four_parts_in_every_language(
    code: int, lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["explain", str(int(code)), "--lang", lang], capsys)
    assert status == 0
    description = describe(code, lang)
    assert out.startswith(f"{int(code)} {description.name}")
    words = json.loads(
        (Path(__file__).parents[1] / "asgi_closeguard" / "texts" / f"{lang}.json").read_text(
            encoding="utf-8"
        )
    )["interface"]
    headings = [line for line in out.splitlines() if line and not line.startswith(" ")]
    for key in ("what_it_is", "when_seen", "how_to_fix", "when_to_send"):
        assert words[key] in headings
    assert description.reference_url in out


@pytest.mark.parametrize(("columns", "limit"), [("20", 40), ("60", 60), ("300", 100)])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_prose_is_wrapped_to_the_terminal(
    columns: str,
    limit: int,
    lang: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    _, out, _ = run(["compare", "1006", "1011", "--lang", lang], capsys)
    # Headings stay on one line; everything under them is wrapped, except web addresses.
    prose = [line for line in out.splitlines() if line.startswith(" ") and "https://" not in line]
    assert max(display_width(line) for line in prose) <= limit
    # Wide enough to matter: lines are filled, not cut short.
    assert max(display_width(line) for line in prose) > limit - 12


def test_list_uses_the_whole_width_of_a_wide_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    _, out, _ = run(["list"], capsys)
    assert "…" not in out
    assert describe(1006).summary in out


@pytest.mark.parametrize("lang", LANGUAGES)
def test_list_has_one_line_per_code_and_range(
    lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["list", "--lang", lang], capsys)
    lines = out.splitlines()
    assert status == 0
    assert len(lines) == 1 + len(CloseCode) + len(CODE_RANGES)
    assert all(display_width(line) <= 80 for line in lines)
    for line, code in zip(lines[1:], CloseCode, strict=False):
        assert line.startswith(f"{int(code)} ")
        assert describe(code, lang).name in line


# --- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_explain_json_carries_the_record(lang: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["explain", "1006", "--json", "--lang", lang], capsys)
    assert status == 0
    data = json.loads(out)
    assert data == dataclasses.asdict(describe(1006, lang))
    assert {"code", "name", "sendable", "sent_by", "range", "reference", "summary"} <= set(data)
    assert (data["code"], data["sendable"], data["constant"]) == (1006, False, "ABNORMAL_CLOSURE")


def test_json_keeps_korean_readable(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["explain", "1006", "--json", "--lang", "ko"], capsys)
    assert "비정상 종료" in out
    assert "\\u" not in out


def test_compare_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["compare", "1005", "1011", "--json"], capsys)
    data = json.loads(out)
    assert status == 0
    assert set(data) == {"first", "second", "differences", "when_to_use"}
    assert data["first"]["code"] == 1005
    assert data["second"]["sendable"] is True
    assert data["differences"] == list(compare(1005, 1011).differences)
    assert data["when_to_use"] == list(compare(1005, 1011).when_to_use)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_list_json(lang: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["list", "--json", "--lang", lang], capsys)
    data = json.loads(out)
    assert status == 0
    assert [entry["code"] for entry in data["codes"]] == [int(code) for code in CloseCode]
    assert data["codes"][0] == dataclasses.asdict(describe(1000, lang))
    assert [entry["range"] for entry in data["ranges"]] == [band.key for band in CODE_RANGES]
    assert data["ranges"][-1] == dataclasses.asdict(describe_range("out_of_range", lang))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_list_shows_what_a_reconnecting_client_does(
    lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(["list", "--lang", lang], capsys)
    words = interface_texts(lang)
    header, *rows = out.splitlines()
    assert words["reconnect_column"] in header
    for row, code in zip(rows, CloseCode, strict=False):
        assert f"  {words[f'reconnect_{describe(code, lang).reconnect}']}  " in row, row


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("code", ["1000", "1012", "1013", "4001"])
def test_explain_says_whether_to_reconnect(
    code: str, lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(["explain", code, "--lang", lang, "--json"], capsys)
    data = json.loads(out)
    description = describe(int(code), lang)
    assert (data["reconnect"], data["reconnect_text"]) == (
        description.reconnect,
        description.reconnect_text,
    )
    _, text, _ = run(["explain", code, "--lang", lang], capsys)
    label = f"{interface_texts(lang)['reconnect']}: "
    assert label + interface_texts(lang)[f"reconnect_{description.reconnect}"] in text


# --- export-js -------------------------------------------------------------------------------

#: The issue's budget for the module with English and Korean together.
MODULE_BUDGET_BYTES = 150 * 1024


@pytest.mark.parametrize(
    "argv",
    [
        ["export-js", "--lang", "ko", "en"],
        ["export-js", "--lang", "ko", "--lang", "en"],
        ["export-js", "--lang", "en", "ko", "en"],
    ],
)
def test_export_js_gives_the_same_bytes_for_the_same_languages(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(argv, capsys)
    assert (status, err) == (0, "")
    assert out == export_js()
    assert out == (GOLDEN / "export_js.js").read_text(encoding="utf-8")


def test_export_js_fits_the_budget_and_imports_nothing() -> None:
    module = export_js(["en", "ko"])
    assert len(module.encode("utf-8")) <= MODULE_BUDGET_BYTES
    assert module.endswith("\n")
    code_lines = [line.strip() for line in module.splitlines()]
    # Dependency-free: the one import in the file is the usage example in its JSDoc.
    assert not [line for line in code_lines if line.startswith("import ")]
    assert "require(" not in module
    for name in ("describeClose", "shouldReconnect", "reconnectText"):
        assert f"export function {name}(" in module
    assert "@property" in module  # JSDoc types


@pytest.mark.parametrize("lang", LANGUAGES)
def test_export_js_takes_only_the_languages_asked_for(lang: str) -> None:
    module = export_js([lang])
    assert f"export const LANGUAGES = Object.freeze([\n  {json.dumps(lang)}\n]);" in module
    for other in set(LANGUAGES) - {lang}:
        assert describe(1006, other).summary not in module
    assert describe(1006, lang).summary in module


def test_export_js_defaults_to_english_when_it_has_english() -> None:
    assert 'export const DEFAULT_LANGUAGE = "en";' in export_js()
    assert 'export const DEFAULT_LANGUAGE = "ko";' in export_js(["ko"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export-js", "--lang", "fr"], "unknown language 'fr': available languages are en, ko"),
        (["export-js", "--lang", "en", "KO"], "unknown language 'KO'"),
    ],
)
def test_export_js_unknown_language_is_one_line_and_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(argv, capsys)
    assert (status, out) == (2, "")
    assert err.startswith(ERROR_PREFIX + message)
    assert err.count("\n") == 1


def test_export_js_without_a_language_after_lang_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["export-js", "--lang"])
    assert info.value.code == 2
    assert "usage: asgi-closeguard export-js" in capsys.readouterr().err


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "abc"], "'abc' is not a close code: give a whole number from 0 to 65535"),
        (["explain", "10.5"], "'10.5' is not a close code"),
        (["explain", ""], "'' is not a close code"),
        (["explain", "1_000"], "'1_000' is not a close code"),
        (["explain", "0x3e8"], "'0x3e8' is not a close code"),
        (["explain", "١٠٠٦"], "'١٠٠٦' is not a close code"),
        (["explain", "-1"], "-1 is outside 0-65535, the numbers a close frame can carry"),
        (["explain", "65536"], "65536 is outside 0-65535"),
        (["explain", "99999999999999999999"], "99999999999999999999 is outside 0-65535"),
        (["compare", "1000", "x"], "'x' is not a close code"),
        (["compare", "70000", "1000"], "70000 is outside 0-65535"),
        (
            ["explain", "1006", "--lang", "fr"],
            "unknown language 'fr': available languages are en, ko",
        ),
        (["compare", "1005", "1011", "--lang", "KO"], "unknown language 'KO'"),
        (["list", "--lang", "jp"], "unknown language 'jp'"),
        (["list", "--lang", "jp", "--json"], "unknown language 'jp'"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(argv, capsys)
    assert status == 2
    assert out == ""
    assert err.startswith(ERROR_PREFIX + message)
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [[], ["explain"], ["compare", "1000"], ["frobnicate"], ["explain", "1000", "--color"]],
)
def test_argparse_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: asgi-closeguard")
    assert "error:" in err


@pytest.mark.parametrize("argv", [["explain", "0"], ["explain", "65535"], ["explain", "+1000"]])
def test_the_ends_of_the_wire_range_are_accepted(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv, capsys)[0] == 0


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"asgi-closeguard {__version__}\n"


def test_main_reads_sys_argv(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["asgi-closeguard", "explain", "1000"])
    assert main() == 0
    assert capsys.readouterr().out.startswith("1000 Normal Closure")


# --- the real entry point ------------------------------------------------------------------


def test_python_dash_m_runs_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["asgi_closeguard", "explain", "nope"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("asgi_closeguard", run_name="__main__")
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith(ERROR_PREFIX)


def test_importing_the_main_module_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "asgi_closeguard.__main__", raising=False)
    importlib.import_module("asgi_closeguard.__main__")
    assert capsys.readouterr() == ("", "")


def python_dash_m(*argv: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "asgi_closeguard", *argv],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment,
        timeout=60,
        check=False,
    )


def test_subprocess_explain_in_korean() -> None:
    result = python_dash_m("explain", "1006", "--lang", "ko")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (GOLDEN / "explain_1006_ko.txt").read_text(encoding="utf-8")


def test_subprocess_bad_code_gives_one_line_and_no_traceback() -> None:
    result = python_dash_m("explain", "banana")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(ERROR_PREFIX)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


# --- export-js --types ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_export_js_types_follow_the_languages(
    lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["export-js", "--types", "--lang", lang], capsys)
    assert (status, err) == (0, "")
    assert out == export_types([lang])
    assert f"export type Language = {json.dumps(lang)};" in out


def test_export_js_types_check_the_language(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["export-js", "--types", "--lang", "fr"], capsys)
    assert (status, out) == (2, "")
    assert err.startswith(ERROR_PREFIX + "unknown language 'fr'")


# --- --app-codes ---------------------------------------------------------------------------

APP_CODES_MODULE = """\
from asgi_closeguard import AppCode

CODES = {
    4001: AppCode(
        "Kicked",
        "An admin removed you from the room.",
        reconnect="no",
        texts={"ko": {"name": "강퇴됨"}},
    ),
    4029: AppCode("Room full", "The room has no free seat.", reconnect="backoff"),
}


class Holder:
    CODES = CODES


NOT_A_MAPPING = [4001]
BAD_KEY = {1000: CODES[4001]}
BAD_VALUE = {4001: "Kicked"}
"""


@pytest.fixture
def app_codes_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of the app's codes in the working directory, as a user's project has it."""
    name = f"app_codes_{os.getpid()}_{id(tmp_path)}"
    (tmp_path / f"{name}.py").write_text(APP_CODES_MODULE, encoding="utf-8")
    (tmp_path / f"{name}_broken.py").write_text("raise RuntimeError('the app\\nbroke')\n")
    (tmp_path / f"{name}_needs.py").write_text("import a_dependency_that_is_missing\n")
    monkeypatch.chdir(tmp_path)
    for module in (name, f"{name}_broken", f"{name}_needs"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    return name


def declared_codes(module: str) -> dict[int, Any]:
    loaded: dict[int, Any] = importlib.import_module(module).CODES
    return loaded


def test_explain_with_app_codes(app_codes_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["explain", "4001", "--app-codes", f"{app_codes_module}:CODES"], capsys)
    assert (status, err) == (0, "")
    assert out.startswith("4001 Kicked (declared by the app)\n")
    assert "An admin removed you from the room." in out
    assert "Reconnect: no" in out
    assert str(Path.cwd()) not in sys.path, "the working directory stays on sys.path"
    status, out, _ = run(
        ["explain", "4001", "--lang", "ko", "--app-codes", f"{app_codes_module}:CODES"], capsys
    )
    assert out.startswith("4001 강퇴됨 (앱이 정의한 코드)\n")


def test_explain_json_with_app_codes(
    app_codes_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"{app_codes_module}:Holder.CODES"
    status, out, _ = run(["explain", "4029", "--json", "--app-codes", target], capsys)
    assert status == 0
    data = json.loads(out)
    assert data == dataclasses.asdict(describe(4029, app_codes=declared_codes(app_codes_module)))
    assert (data["name"], data["reconnect"], data["app_code"]) == ("Room full", "backoff", True)


def test_compare_with_app_codes(app_codes_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = f"{app_codes_module}:CODES"
    status, out, _ = run(["compare", "4001", "1000", "--json", "--app-codes", target], capsys)
    assert status == 0
    expected = compare(4001, 1000, app_codes=declared_codes(app_codes_module))
    assert json.loads(out) == json.loads(json.dumps(dataclasses.asdict(expected)))
    _, text, _ = run(["compare", "4001", "1000", "--app-codes", target], capsys)
    assert text.startswith("4001 Kicked vs 1000 Normal Closure\n")


def test_list_with_app_codes(app_codes_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = f"{app_codes_module}:CODES"
    status, out, _ = run(["list", "--app-codes", target], capsys)
    lines = out.splitlines()
    assert status == 0
    assert len(lines) == 1 + len(CloseCode) + 2 + len(CODE_RANGES)
    codes = [line.split()[0] for line in lines[1 : 1 + len(CloseCode) + 2]]
    assert codes == sorted(codes, key=int)
    kicked = next(line for line in lines if line.startswith("4001 "))
    assert "Kicked" in kicked
    assert "  no  " in kicked
    _, out, _ = run(["list", "--json", "--app-codes", target], capsys)
    data = json.loads(out)
    assert [entry["code"] for entry in data["codes"]][-2:] == [4001, 4029]
    assert data["codes"][-1]["app_code"] is True


def test_export_js_with_app_codes(
    app_codes_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["export-js", "--app-codes", f"{app_codes_module}:CODES"], capsys)
    assert (status, err) == (0, "")
    assert out == export_js(app_codes=declared_codes(app_codes_module))
    assert '"4001": {"reconnect": "no", "sendable": true}' in out
    assert '"name": "Kicked"' in out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{module}", "--app-codes '{module}' is not MODULE:ATTRIBUTE; write e.g. "),
        ("{module}:", "is not MODULE:ATTRIBUTE"),
        (":CODES", "is not MODULE:ATTRIBUTE"),
        (
            "no_such_module_for_app_codes:CODES",
            "--app-codes no_such_module_for_app_codes:CODES: there is no module "
            "'no_such_module_for_app_codes' here; run the command where the module can be "
            "imported, or fix the name",
        ),
        ("no_such_package_here.codes:CODES", "there is no module 'no_such_package_here' here"),
        ("{module}:NOPE", "--app-codes {module}:NOPE: {module} has no attribute 'NOPE'"),
        ("{module}:Holder.NOPE", "{module} has no attribute 'Holder.NOPE'"),
        (
            "{module}:NOT_A_MAPPING",
            "--app-codes {module}:NOT_A_MAPPING: app_codes takes a dict of close codes to AppCode",
        ),
        ("{module}:BAD_KEY", "app_codes cannot declare 1000: 1000-2999 belong to the WebSocket"),
        ("{module}:BAD_VALUE", "app_codes[4001] is an AppCode, not str"),
        (
            "{module}_broken:CODES",
            "--app-codes {module}_broken:CODES: importing {module}_broken failed: "
            "RuntimeError: the app broke",
        ),
        (
            "{module}_needs:CODES",
            "importing {module}_needs failed: No module named 'a_dependency_that_is_missing'",
        ),
    ],
)
@pytest.mark.parametrize(
    "command", [["explain", "4001"], ["compare", "4001", "1000"], ["list"], ["export-js"]]
)
def test_a_bad_app_codes_target_is_one_line_and_status_2(
    command: list[str],
    target: str,
    message: str,
    app_codes_module: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [*command, "--app-codes", target.format(module=app_codes_module)]
    status, out, err = run(argv, capsys)
    assert (status, out) == (2, "")
    assert err.startswith(ERROR_PREFIX + "--app-codes "), err
    assert message.format(module=app_codes_module) in err
    assert err.count("\n") == 1


def test_app_codes_from_the_command_line_of_a_real_process(tmp_path: Path) -> None:
    (tmp_path / "myapp_codes.py").write_text(APP_CODES_MODULE, encoding="utf-8")
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "80"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "asgi_closeguard",
            "explain",
            "4001",
            "--app-codes",
            "myapp_codes:CODES",
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("4001 Kicked (declared by the app)")


# --- a reader that goes away ---------------------------------------------------------------

PIPED_COMMANDS = [
    ["export-js"],
    ["export-js", "--types"],
    ["list"],
    ["list", "--json"],
    ["explain", "1006"],
    ["compare", "1005", "1011"],
]


class ClosedPipe(io.TextIOBase):
    """A stdout whose reader has gone: every write fails as a closed pipe does."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor = descriptor

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def fileno(self) -> int:
        return self.descriptor


@pytest.mark.parametrize("argv", PIPED_COMMANDS, ids=" ".join)
def test_a_closed_pipe_ends_the_command_quietly(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    descriptor = os.open(tmp_path / "stdout", os.O_WRONLY | os.O_CREAT)
    errors = io.StringIO()
    monkeypatch.setattr(sys, "stdout", ClosedPipe(descriptor))
    monkeypatch.setattr(sys, "stderr", errors)
    try:
        assert main(argv) == 0
        # What is left to flush at exit goes nowhere, instead of failing a second time.
        assert os.path.samestat(os.fstat(descriptor), os.stat(os.devnull))
    finally:
        os.close(descriptor)
    assert errors.getvalue() == ""


@pytest.mark.parametrize("argv", PIPED_COMMANDS, ids=" ".join)
def test_a_real_pipe_whose_reader_is_gone(argv: list[str]) -> None:
    # The reading end is closed before the command starts: its first write meets a closed pipe.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "asgi_closeguard", *argv],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("argv", PIPED_COMMANDS, ids=" ".join)
def test_piped_into_head(argv: list[str]) -> None:
    command = " ".join([sys.executable, "-m", "asgi_closeguard", *argv])
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{command} | head -1"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "80"},
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.count("\n") == 1
    assert result.stdout.strip()
