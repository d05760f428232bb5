"""The benchmarks' figures in the docs: generated blocks, and where and when they were measured.

A page holds a benchmark's figures between two HTML comments::

    <!-- begin: benchmarks.inprocess -->
    ...what the benchmark rendered...
    <!-- end: benchmarks.inprocess -->

``python -m benchmarks.<name> --markdown`` runs the benchmark, writes its JSON report to
``docs/benchmarks/<name>.json`` (committed, unlike ``benchmarks/results/``; ``--json`` puts it
elsewhere) and rewrites every block of that benchmark in the pages given (by default
``docs/performance.md`` and the README).
Each block says which command, at which commit and on which day produced it.
``tests/docs/test_performance_figures.py`` renders every block again from the committed JSON and
requires the page to hold exactly that, so a figure edited by hand, or left from an older run,
fails the suite.

A block is on lines of its own (a table, a paragraph) or inline, inside a sentence (the README):
what the benchmark renders on one line stays inline, anything longer gets lines of its own.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where the JSON reports that the docs' blocks were rendered from are committed.
DOCS_RESULTS = REPO_ROOT / "docs" / "benchmarks"
#: The pages ``--markdown`` rewrites when it names none.
DEFAULT_PAGES = (REPO_ROOT / "docs" / "performance.md", REPO_ROOT / "README.md")
#: The code whose figures are measured: a change there not yet committed makes the figures
#: belong to no commit, and the run says so.
MEASURED_PATHS = ("asgi_closeguard", "benchmarks")

#: The libraries whose versions move the figures (the servers, the peers): recorded with every
#: run, where installed.
RECORDED_PACKAGES = (
    "uvicorn",
    "websockets",
    "wsproto",
    "starlette",
    "opentelemetry-instrumentation-asgi",
    "opentelemetry-sdk",
    "sentry-sdk",
)

_BLOCK = re.compile(
    r"<!-- begin: (?P<name>benchmarks\.[\w.]+) -->(?P<content>.*?)<!-- end: (?P=name) -->",
    re.DOTALL,
)


def provenance(command: str) -> dict[str, Any]:
    """Where and when a run happens: the commit checked out, the changes not committed under
    :data:`MEASURED_PATHS`, the date and time (UTC), and the command as typed."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "command": command,
        "commit": (_git("rev-parse", "HEAD") or "unknown").strip(),
        "commit_short": (_git("rev-parse", "--short", "HEAD") or "unknown").strip(),
        # "XY path" per changed file; files git ignores (benchmarks/results/) are not listed.
        "uncommitted": sorted(
            line[3:]
            for line in (_git("status", "--porcelain", "--", *MEASURED_PATHS) or "").splitlines()
            if line.strip()
        ),
        "date": now.date().isoformat(),
        "started_at": now.isoformat(timespec="seconds"),
        "packages": installed_versions(),
    }


def installed_versions() -> dict[str, str]:
    """The version of each of :data:`RECORDED_PACKAGES` that is installed."""
    from importlib import metadata

    versions: dict[str, str] = {}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git(*args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout


def measured_at(report: Mapping[str, Any]) -> str:
    """``commit `ca260b5` on 2026-12-04`` (with the uncommitted changes, if there were any)."""
    run = report["run"]
    text = f"commit `{run['commit_short']}` on {run['date']}"
    if run["uncommitted"]:
        text += f" (with uncommitted changes to {', '.join(run['uncommitted'])})"
    return text


def load_during(report: Mapping[str, Any]) -> str:
    """``load average 0.38 at the start, 0.91 at the end``: how busy the machine was."""
    start = report["machine"]["load_average_1m"]
    end = report["run"].get("load_average_1m_end")
    return f"load average {start} at the start" + ("" if end is None else f", {end} at the end")


def header(report: Mapping[str, Any], packages: Sequence[str] = ()) -> str:
    """The line a block of full figures starts with: command, how long it took, commit, date,
    machine, Python, load; and the versions of ``packages`` (those installed)."""
    machine, run = report["machine"], report["run"]
    took = f" ({run['seconds']:.0f} s)" if "seconds" in run else ""
    versions = "".join(
        f", {package} {run['packages'][package]}"
        for package in packages
        if package in run.get("packages", {})
    )
    return (
        f"Measured by `{run['command']}`{took} at {measured_at(report)}: {machine['cpu']}, "
        f"{machine['cores']} cores, {machine['implementation']} {machine['python']}{versions}, "
        f"{load_during(report)}."
    )


def short_header(report: Mapping[str, Any]) -> str:
    """The line a summary block starts with: command, commit and date, Python, load."""
    machine = report["machine"]
    return (
        f"`{report['run']['command']}`, {measured_at(report)}, "
        f"{machine['implementation']} {machine['python']}, {load_during(report)}:"
    )


def wrapped(content: str) -> str:
    """What goes between the markers: one line inline, more on lines of their own."""
    return f"\n{content}\n" if "\n" in content else content


def blocks_in(text: str) -> dict[str, str]:
    """The generated blocks of a page: name to what is between its markers."""
    found: dict[str, str] = {}
    for match in _BLOCK.finditer(text):
        if match["name"] in found:
            raise ValueError(f"block {match['name']} appears twice")
        found[match["name"]] = match["content"]
    return found


def block_spans(text: str) -> list[tuple[int, int]]:
    """The 1-based first and last line of every generated block of a page, markers included."""
    return [
        (text.count("\n", 0, match.start()) + 1, text.count("\n", 0, match.end()) + 1)
        for match in _BLOCK.finditer(text)
    ]


def replace_blocks(text: str, rendered: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with every block named in ``rendered`` replaced; and the names replaced."""
    replaced: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in rendered:
            return match[0]
        replaced.append(name)
        return f"<!-- begin: {name} -->{wrapped(rendered[name])}<!-- end: {name} -->"

    return _BLOCK.sub(replace, text), replaced


def benchmark_of(block_name: str) -> str:
    """``benchmarks.inprocess.readme`` -> ``inprocess``: the benchmark a block belongs to."""
    return block_name.split(".")[1]


def write_docs(
    name: str,
    report: Mapping[str, Any],
    rendered: Mapping[str, str],
    pages: Sequence[Path],
    report_path: Path | None = None,
) -> list[str]:
    """Commit-ready docs: the JSON report at ``report_path`` (by default in
    :data:`DOCS_RESULTS`), every block of benchmark ``name`` in ``pages`` rewritten. Returns one
    line per file written.

    A page that holds none of the benchmark's blocks, or a block the benchmark does not render
    (a typo, a block left from a renamed one), is an error: no page is changed then (the JSON
    report is written all the same, so that the run is not lost).
    """
    # The report first: a page that turns out wrong must not cost the run (render it again
    # with --from-json once the page is right).
    report_path = report_path if report_path is not None else DOCS_RESULTS / f"{name}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [f"JSON report the blocks are rendered from: {_shown(report_path)}"]
    updates: list[tuple[Path, str, list[str]]] = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        ours = [block for block in blocks_in(text) if benchmark_of(block) == name]
        unknown = sorted(set(ours) - set(rendered))
        problem = None
        if unknown:
            problem = f"{page}: no such block of benchmarks.{name}: {', '.join(unknown)}"
        elif not ours:
            problem = f"{page} holds no block of benchmarks.{name}; add one of " + ", ".join(
                f"<!-- begin: {block} --><!-- end: {block} -->" for block in rendered
            )
        if problem is not None:
            raise SystemExit(
                f"{lines[0]}\n{problem}\nno page was changed; once it is right: "
                f"python -m benchmarks.{name} --from-json {_shown(report_path)} --markdown PAGE"
            )
        new_text, replaced = replace_blocks(text, rendered)
        updates.append((page, new_text, replaced))
    for page, new_text, replaced in updates:
        page.write_text(new_text, encoding="utf-8")
        lines.append(f"rewrote in {_shown(page)}: {', '.join(replaced)}")
    return lines


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def load_report(name: str) -> dict[str, Any]:
    """The committed JSON report the docs' blocks of benchmark ``name`` were rendered from."""
    report: dict[str, Any] = json.loads((DOCS_RESULTS / f"{name}.json").read_text("utf-8"))
    return report


__all__ = [
    "DEFAULT_PAGES",
    "DOCS_RESULTS",
    "benchmark_of",
    "block_spans",
    "blocks_in",
    "header",
    "load_report",
    "measured_at",
    "provenance",
    "replace_blocks",
    "short_header",
    "wrapped",
    "write_docs",
]
