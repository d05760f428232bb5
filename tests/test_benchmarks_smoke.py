"""Smoke runs of the benchmarks: each runs with tiny numbers and prints its report.

Nothing here looks at a timing (speed is what the benchmarks measure, on a quiet machine; see
docs/performance.md). What is checked: every benchmark runs to the end with ``--small``, prints
its report and writes a JSON report of the expected shape; and two properties that are not
timings: ``import asgi_closeguard`` brings in no framework, and a message passing through the
guard leaves no allocation behind.
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
from benchmarks.inprocess import FloorMiddleware
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
    assert {"cpu", "cores", "python"} <= set(report["machine"])


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
    assert set(report["bytes_per_connection"]) == {"bare", "floor", "guard"}
    assert report["guard_bytes_per_connection"] > 0
    assert set(report["hot_loop"]) == {"bare", "floor", "guard"}
    assert report["import_ms"]["cold"]["median"] > 0
    assert report["import_ms"]["cold_breakdown"][-1]["module"] == "asgi_closeguard"
    assert set(report["targets"]) == {
        "no_allocation_per_message",
        "import_under_10ms",
        "no_framework_imported",
    }


def test_importing_the_package_imports_no_framework() -> None:
    modules = modules_imported()
    assert "asgi_closeguard._middleware" in modules
    assert "asgi_closeguard._knowledge" not in modules  # loaded on first use only
    assert frameworks_among(modules) == []


@pytest.mark.parametrize(
    ("name", "middleware"),
    [("bare", None), ("floor", FloorMiddleware), ("guard", CloseGuardMiddleware)],
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
