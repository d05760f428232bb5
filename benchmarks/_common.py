"""What every benchmark shares: the echo app, the machine description, medians, JSON results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from asgi_closeguard._types import Message, Receive, Scope, Send

from ._markdown import DEFAULT_PAGES, provenance, write_docs

#: Where reports go unless ``--json`` says otherwise (git ignores it).
RESULTS_DIRECTORY = Path(__file__).resolve().parent / "results"


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then send every text or bytes message back until the client leaves.

    The same app runs bare and behind every middleware, in memory and under uvicorn.
    """
    if scope["type"] != "websocket":
        return
    message = await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes")})


def median(values: Sequence[float]) -> float:
    """The median, as a float (0.0 for no values)."""
    return float(statistics.median(values)) if values else 0.0


def rotated(items: Sequence[str], round_number: int) -> list[str]:
    """``items`` rotated by ``round_number``: each round starts with another variant, so that
    no variant always runs first (cold) or last (after the others warmed the caches)."""
    shift = round_number % len(items)
    return [*items[shift:], *items[:shift]]


def machine() -> dict[str, Any]:
    """The machine and interpreter the figures were taken on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        # Other work on the machine meanwhile: the figures move with it.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _cpu_model() -> str:
    try:
        output = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        output = ""
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def write_json(report: dict[str, Any], path: Path | None, default_name: str) -> Path:
    """Write ``report`` as JSON to ``path`` (default: ``benchmarks/results/<default_name>``)."""
    target = path if path is not None else RESULTS_DIRECTORY / default_name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return target


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, its columns padded to line up (as printed and as in the docs)."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table."""
    print(table(headers, rows))


def describe_machine(info: dict[str, Any]) -> str:
    """One line: CPU, cores, Python, and how busy the machine was."""
    return (
        f"{info['cpu']}, {info['cores']} cores, {info['implementation']} {info['python']} "
        f"({info['platform']}), load average {info['load_average_1m']} at the start"
    )


def add_variants_option(parser: argparse.ArgumentParser, known: Collection[str]) -> None:
    """``--variants a,b``, every one of ``known`` by default."""
    parser.add_argument(
        "--variants",
        default=",".join(known),
        help=f"comma-separated, from {', '.join(known)} (default: all)",
    )


def chosen_variants(
    parser: argparse.ArgumentParser, text: str, known: Collection[str]
) -> list[str]:
    """The variants ``--variants`` named, in its order; an unknown one is a usage error."""
    variants = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(variants) - set(known))
    if unknown or not variants:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(known)}")
    return variants


def add_docs_options(parser: argparse.ArgumentParser) -> None:
    """``--markdown [PAGE ...]`` and ``--from-json PATH``: the figures of the docs."""
    parser.add_argument(
        "--markdown",
        nargs="*",
        type=Path,
        metavar="PAGE",
        help="write the JSON report to docs/benchmarks/ (or --json) and rewrite this "
        "benchmark's generated blocks in each PAGE (default: docs/performance.md README.md)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="PATH",
        help="measure nothing: print (and with --markdown, write) the report in PATH again",
    )


def command_line(prog: str, argv: Sequence[str] | None) -> str:
    """The command as it was typed (what a page's block says produced it)."""
    return " ".join([prog, *(sys.argv[1:] if argv is None else argv)])


def start_run(command: str) -> dict[str, Any]:
    """Where and when a run starts: the commit and the changes not committed are taken now,
    before the run, as the code that runs is the code as it is now."""
    return {**provenance(command), "started": time.monotonic()}


def measured(report: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
    """``report`` with where and when it was measured (``started``: :func:`start_run`), how
    long it took, and the load average at its end."""
    run = {key: value for key, value in started.items() if key != "started"}
    report["run"] = {
        **run,
        "seconds": round(time.monotonic() - started["started"], 1),
        "load_average_1m_end": round(os.getloadavg()[0], 2),
    }
    return report


def read_report(path: Path, benchmark: str) -> dict[str, Any]:
    """A JSON report written earlier by ``benchmark`` (``--from-json``)."""
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if report.get("benchmark") != benchmark or "run" not in report:
        raise SystemExit(f"{path} is not a report of benchmarks.{benchmark} with its run")
    return report


def finish(
    name: str,
    report: dict[str, Any],
    rendered: dict[str, str],
    json_path: Path | None,
    pages: list[Path] | None,
    from_json: bool,
) -> None:
    """After the report is printed: the JSON report (in ``benchmarks/results/`` or at
    ``json_path``); with ``--markdown``, the docs, and the JSON report beside them (in
    ``docs/benchmarks/`` or at ``json_path``)."""
    if pages is not None:
        for line in write_docs(name, report, rendered, pages or DEFAULT_PAGES, json_path):
            print(line)
    elif not from_json:
        print(f"\nJSON report: {write_json(report, json_path, f'{name}.json')}")
    flush()


def flush() -> None:
    """Flush stdout (reports are read by the smoke tests through a pipe)."""
    sys.stdout.flush()


__all__ = [
    "RESULTS_DIRECTORY",
    "Message",
    "add_docs_options",
    "add_variants_option",
    "chosen_variants",
    "command_line",
    "describe_machine",
    "echo_app",
    "finish",
    "flush",
    "machine",
    "measured",
    "median",
    "print_table",
    "read_report",
    "rotated",
    "start_run",
    "table",
    "write_json",
]
