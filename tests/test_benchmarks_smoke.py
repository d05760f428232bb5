"""Smoke runs of the benchmarks: each runs with tiny numbers and prints its report.

Nothing here looks at a timing (speed is what the benchmarks measure, on a quiet machine; see
docs/performance.md). What is checked: every benchmark runs to the end with ``--small``, prints
its report and writes a JSON report of the expected shape; ``--markdown`` rewrites a page's
generated blocks and nothing else, and ``--from-json`` renders them again the same; and
properties that are not timings: ``import asgi_closeguard`` brings in no framework, a message
passing through the guard leaves no allocation behind, and the bytecode instructions per message
grow from the bare app to the floors to the guard.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asgi_closeguard import CloseGuardMiddleware
from benchmarks._common import echo_app
from benchmarks._markdown import blocks_in, replace_blocks, wrapped
from benchmarks.inprocess import VARIANTS as INPROCESS_VARIANTS
from benchmarks.inprocess import FloorMiddleware, instructions_per_message
from benchmarks.memory_import import frameworks_among, hot_loop_allocations, modules_imported

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(name: str, json_path: Path, *options: str) -> tuple[str, dict[str, Any]]:
    """``python -m benchmarks.<name> --small``: its printed report and its JSON report."""
    completed = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--small", "--json", str(json_path), *options],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, (
        f"benchmarks.{name} failed:\n{completed.stdout}\n{completed.stderr}"
    )
    report: dict[str, Any] = json.loads(json_path.read_text(encoding="utf-8"))
    return completed.stdout, report


def test_inprocess_benchmark_reports_every_variant(tmp_path: Path) -> None:
    output, report = run_benchmark("inprocess", tmp_path / "inprocess.json")
    assert output.startswith("# In-process:")
    assert "guard/floor = " in output
    # The peers are there where their packages are: the test extra brings OpenTelemetry's;
    # Sentry's comes when sentry-sdk is installed.
    from benchmarks.inprocess import VARIANTS

    ours = {"bare", "floor", "floor-async", "guard", "guard-on-close", "starlette"}
    assert {"otel", "otel-no-message-spans"} <= set(VARIANTS)
    assert set(report["variants"]) == set(VARIANTS) >= ours
    for figures in report["variants"].values():
        assert len(figures["ns_per_message"]) == report["rounds"] == 3
        assert figures["median_ns_per_message"] > 0
        assert len(figures["cpu_ns_per_message"]) == 3
    ratios = {f"{name}/floor" for name in VARIANTS if name != "floor"} | {"guard/floor-async"}
    assert set(report["ratios"]) == set(report["cpu_ratios"]) == ratios
    assert set(report["target"]) == {"guard/floor", "met"}
    assert report["target"]["guard/floor"] == 1.25  # issue 21
    assert {"cpu", "cores", "python"} <= set(report["machine"])
    assert {"commit", "commit_short", "date", "command", "uncommitted"} <= set(report["run"])
    assert report["run"]["command"].startswith("python -m benchmarks.inprocess --small")
    assert "guard-on-close/floor = " in output
    # Where the guard's instructions go: its own hot-path lines, counted per message.
    assert set(report["guard_lines"]) == {"guard", "guard-on-close"}
    for entries in report["guard_lines"].values():
        assert entries
        assert all(entry["file"].startswith("asgi_closeguard/") for entry in entries)
    assert "the guard's own lines, in all" in output


def test_integrations_benchmark_reports_every_variant(tmp_path: Path) -> None:
    output, report = run_benchmark("integrations", tmp_path / "integrations.json")
    assert output.startswith("# Integrations:")
    variants = {"guard", "callback", "prometheus", "opentelemetry", "opentelemetry-span"}
    assert set(report["variants"]) == variants
    for name, figures in report["variants"].items():
        assert name in output
        assert len(figures["ns_per_connection"]) == report["rounds"] == 3
        assert figures["median_ns_per_connection"] > 0
        assert len(figures["cpu_ns_per_connection"]) == 3
        assert isinstance(figures["ns_over_callback"], float)
    ratios = {f"{name}/guard" for name in variants - {"guard"}}
    assert set(report["ratios"]) == set(report["cpu_ratios"]) == ratios


@pytest.mark.server
@pytest.mark.slow
def test_end_to_end_benchmark_reports_every_variant_on_both_uvicorn_implementations(
    tmp_path: Path,
) -> None:
    output, report = run_benchmark(
        "end_to_end", tmp_path / "end_to_end.json", "--variants", "floor,floor-async"
    )
    assert output.startswith("# End to end: 2 clients x 20 messages")
    assert report["variants"] == ["bare", "floor", "floor-async", "guarded"]
    assert [figures["server"] for figures in report["servers"]] == [
        "uvicorn-websockets-sansio",
        "uvicorn-wsproto",
    ]
    for figures in report["servers"]:
        assert figures["server"] in output
        for variant in ("bare", "guarded"):
            assert len(figures[variant]["per_second"]) == report["rounds"] == 1
            assert figures[variant]["median_per_second"] > 0
        assert figures["median_ratio"] > 0
        assert isinstance(figures["target_met"], bool)
        assert set(figures["others"]) == {"floor", "floor-async"}
        for variant in ("floor", "floor-async"):
            assert len(figures[variant]["per_second"]) == 1


def test_memory_and_import_benchmark_reports_every_figure(tmp_path: Path) -> None:
    output, report = run_benchmark("memory_import", tmp_path / "memory_import.json")
    assert output.startswith("# Memory and import time")
    variants = {"bare", "floor", "guard", "guard-on-close"}
    assert set(report["bytes_per_connection"]) == variants
    assert report["guard_bytes_per_connection"] > 0
    assert report["guard_on_close_bytes_per_connection"] > 0
    assert set(report["hot_loop"]) == variants
    assert report["import_ms"]["cold"]["median"] > 0
    assert report["import_ms"]["cold_breakdown"][-1]["module"] == "asgi_closeguard"
    assert set(report["targets"]) == {
        "guard_at_most_1500_bytes_per_connection",
        "no_allocation_per_message",
        "import_under_10ms",
        "import_under_10ms_in_server_process",
        "no_framework_imported",
    }
    assert "memory per open connection, guard over bare <= 1,500 bytes" in output
    assert {"commit", "date", "command"} <= set(report["run"])


def test_importing_the_package_imports_no_framework() -> None:
    modules = modules_imported()
    assert "asgi_closeguard._middleware" in modules
    assert "asgi_closeguard._knowledge" not in modules  # loaded on first use only
    assert frameworks_among(modules) == []


def _guard_with_on_close(app: Any) -> Any:
    return CloseGuardMiddleware(app, on_close=lambda record: None)


@pytest.mark.parametrize(
    ("name", "middleware"),
    [
        ("bare", None),
        ("floor", FloorMiddleware),
        ("guard", CloseGuardMiddleware),
        ("guard-on-close", _guard_with_on_close),
    ],
)
def test_a_message_through_the_guard_leaves_no_allocation_behind(
    name: str, middleware: Any
) -> None:
    messages = 2_000
    app = echo_app if middleware is None else middleware(echo_app)
    figures = hot_loop_allocations(app, messages)
    # One object kept per message would be >= 16 bytes per message; allow less than one byte
    # per message for the interpreter's own bookkeeping.
    assert figures["growth_bytes"] < messages, (name, figures)


def test_bytecode_instructions_grow_from_bare_to_the_floors_to_the_guard() -> None:
    # A count, not a timing: it is the same on every run of one Python version.
    order = ["bare", "floor", "floor-async", "guard", "guard-on-close"]
    counts = [instructions_per_message(INPROCESS_VARIANTS[name](echo_app)) for name in order]
    assert counts == sorted(set(counts)), dict(zip(order, counts, strict=True))
    assert all(count == int(count) for count in counts), counts  # the same every message


def test_counting_instructions_leaves_the_callers_tracer_in_place() -> None:
    # Under `pytest --cov` the caller's tracer is coverage's: the count must not end it.
    def tracer(frame: Any, event: str, arg: Any) -> None:
        return None  # no line events: this test's own lines are not what it checks

    before = sys.gettrace()
    sys.settrace(tracer)
    try:
        instructions_per_message(INPROCESS_VARIANTS["guard"](echo_app))
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(before)


PAGE = """# A page

Some text.

<!-- begin: benchmarks.inprocess -->
old figures
<!-- end: benchmarks.inprocess -->

| kept | table |
| --- | --- |
| 1 | 2 |

In short: <!-- begin: benchmarks.inprocess.readme -->old<!-- end: benchmarks.inprocess.readme -->.
"""


def test_replace_blocks_rewrites_only_between_the_markers() -> None:
    text, replaced = replace_blocks(
        PAGE,
        {
            "benchmarks.inprocess": "new\nfigures",
            "benchmarks.inprocess.readme": "one line",
            "benchmarks.inprocess.targets": "not on the page",
        },
    )
    assert replaced == ["benchmarks.inprocess", "benchmarks.inprocess.readme"]
    assert blocks_in(text) == {
        "benchmarks.inprocess": "\nnew\nfigures\n",
        "benchmarks.inprocess.readme": "one line",
    }
    assert text == PAGE.replace("old figures", "new\nfigures").replace(">old<", ">one line<")
    assert wrapped("a\nb") == "\na\nb\n"
    assert wrapped("a") == "a"


def test_a_block_that_appears_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        blocks_in(PAGE + PAGE)


def test_markdown_rewrites_the_pages_blocks_and_from_json_renders_them_again(
    tmp_path: Path,
) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE, encoding="utf-8")
    report_path = tmp_path / "inprocess.json"
    output, report = run_benchmark(
        "inprocess", report_path, "--variants", "bare,floor,guard", "--markdown", str(page)
    )
    assert f"rewrote in {page}: benchmarks.inprocess, benchmarks.inprocess.readme" in output
    text = page.read_text(encoding="utf-8")
    found = blocks_in(text)
    assert found["benchmarks.inprocess"].startswith(
        "\nMeasured by `python -m benchmarks.inprocess --small "
    )
    assert f"commit `{report['run']['commit_short']}` on {report['run']['date']}" in text
    assert "| kept | table |" in text
    assert "old" not in text
    # The same blocks again from the JSON, without measuring: the page does not change.
    page.write_text(PAGE, encoding="utf-8")
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.inprocess",
            "--from-json",
            str(report_path),
            "--json",
            str(tmp_path / "copy.json"),
            "--markdown",
            str(page),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert page.read_text(encoding="utf-8") == text, again.stdout
    assert json.loads((tmp_path / "copy.json").read_text(encoding="utf-8")) == report


@pytest.mark.parametrize(
    ("page_text", "error"),
    [
        ("# No block here\n", "holds no block of benchmarks.inprocess"),
        (
            "<!-- begin: benchmarks.inprocess.typo -->x<!-- end: benchmarks.inprocess.typo -->",
            "no such block of benchmarks.inprocess: benchmarks.inprocess.typo",
        ),
    ],
)
def test_markdown_refuses_a_page_without_a_known_block(
    tmp_path: Path, page_text: str, error: str
) -> None:
    page = tmp_path / "page.md"
    page.write_text(page_text, encoding="utf-8")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.inprocess",
            "--small",
            "--variants",
            "bare",
            "--json",
            str(tmp_path / "report.json"),
            "--markdown",
            str(page),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert error in completed.stderr
    assert page.read_text(encoding="utf-8") == page_text
    # The run is not lost: its report is there, to render again once the page is right.
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["run"]
