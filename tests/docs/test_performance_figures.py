"""The figures of docs/performance.md and the README are the benchmarks' own, from a named run.

Every figure a benchmark measured is in a generated block of a page (``<!-- begin:
benchmarks.NAME -->`` ... ``<!-- end: benchmarks.NAME -->``), written by ``python -m
benchmarks.NAME --markdown`` from the JSON report it commits to ``docs/benchmarks/NAME.json``.
Here every block is rendered again from that JSON and must be on the page byte for byte: a
figure edited by hand, or left from an older run, fails. Each run must name a commit of this
repository (with nothing measured left uncommitted) and a date, and each block must say them.
The README's figures must be the same as those of docs/performance.md. A table of figures
outside the blocks (an older run kept for comparison) must say, just above it, the commit and
the date it was measured at.
"""

from __future__ import annotations

import importlib
import re
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from benchmarks._markdown import (
    DOCS_RESULTS,
    benchmark_of,
    block_spans,
    blocks_in,
    load_report,
    wrapped,
)
from tests.docs.markdown import blocks
from tests.support.servers import REPO_ROOT

PERFORMANCE = REPO_ROOT / "docs" / "performance.md"
README = REPO_ROOT / "README.md"
PAGES = (README, *sorted((REPO_ROOT / "docs").glob("*.md")))

#: The benchmarks whose figures the docs show, and where each of their blocks must be.
BENCHMARKS = ("inprocess", "memory_import", "end_to_end")
WHERE: dict[str, Path] = {
    "benchmarks.inprocess": PERFORMANCE,
    "benchmarks.inprocess.lines": PERFORMANCE,
    "benchmarks.inprocess.targets": PERFORMANCE,
    "benchmarks.inprocess.readme": README,
    "benchmarks.memory_import.memory": PERFORMANCE,
    "benchmarks.memory_import.import": PERFORMANCE,
    "benchmarks.memory_import.targets": PERFORMANCE,
    "benchmarks.memory_import.readme": README,
    "benchmarks.end_to_end": PERFORMANCE,
    "benchmarks.end_to_end.targets": PERFORMANCE,
}

_COMMIT = re.compile(r"commit `(?P<commit>[0-9a-f]{7,40})`")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_NUMBER = re.compile(r"(?<![\w.])[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
#: Numbers that are names, not figures: issue 21, #21.
_ISSUE = re.compile(r"(?:\bissue |#)\d+")
_CODE = re.compile(r"`[^`]*`")


@cache
def rendered(benchmark: str) -> dict[str, str]:
    """Every block benchmark ``benchmark`` renders from its committed JSON report."""
    module = importlib.import_module(f"benchmarks.{benchmark}")
    render: Callable[[dict[str, Any]], dict[str, str]] = module.markdown_blocks
    return render(load_report(benchmark))


def mismatches(page: Path, text: str) -> list[str]:
    """What is wrong with the generated blocks of a page: a block that is not what its
    benchmark renders from the committed JSON, or that names no commit or no date."""
    problems = []
    for name, content in blocks_in(text).items():
        benchmark = benchmark_of(name)
        expected = rendered(benchmark).get(name) if benchmark in BENCHMARKS else None
        if expected is None:
            problems.append(f"{page.name}: {name} is rendered by no benchmark the docs show")
            continue
        if content != wrapped(expected):
            problems.append(
                f"{page.name}: {name} differs from what benchmarks.{benchmark} renders from "
                f"docs/benchmarks/{benchmark}.json (edited by hand, or from another run? "
                f"python -m benchmarks.{benchmark} --markdown)"
            )
        if not _COMMIT.search(content):
            problems.append(f"{page.name}: {name} names no commit")
        if not _DATE.search(content):
            problems.append(f"{page.name}: {name} names no date")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_block_is_what_its_benchmark_renders_from_the_committed_json(page: Path) -> None:
    assert mismatches(page, page.read_text(encoding="utf-8")) == []


def test_every_block_the_benchmarks_render_is_on_its_page() -> None:
    found = {name: page for page in PAGES for name in blocks_in(page.read_text(encoding="utf-8"))}
    every = {name for benchmark in BENCHMARKS for name in rendered(benchmark)}
    assert every == set(WHERE), "a benchmark renders a block the docs do not place"
    assert {name: found.get(name) for name in WHERE} == WHERE


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_every_run_is_a_commit_of_this_repository_on_a_date(benchmark: str) -> None:
    run = load_report(benchmark)["run"]
    assert run["uncommitted"] == [], "measured with changes not committed: commit, run again"
    assert run["commit"].startswith(run["commit_short"])
    exists = subprocess.run(
        ["git", "cat-file", "-e", f"{run['commit']}^{{commit}}"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    assert exists.returncode == 0, f"commit {run['commit']} is not in this repository"
    assert _DATE.fullmatch(run["date"])
    for name, content in rendered(benchmark).items():
        assert run["commit_short"] in content, name
        assert run["date"] in content, name


def test_every_committed_report_is_one_the_docs_show() -> None:
    assert sorted(path.stem for path in DOCS_RESULTS.glob("*.json")) == sorted(BENCHMARKS)


def _figures(text: str) -> set[str]:
    """The numbers of a text, without those in code spans and dates, signs dropped."""
    bare = _DATE.sub("", _CODE.sub("", text))
    return {number.lstrip("+-") for number in _NUMBER.findall(bare)}


@pytest.mark.parametrize("name", [name for name, page in WHERE.items() if page == README])
def test_the_readme_figures_are_those_of_docs_performance(name: str) -> None:
    in_readme = blocks_in(README.read_text(encoding="utf-8"))[name]
    performance = blocks_in(PERFORMANCE.read_text(encoding="utf-8"))
    in_docs = set().union(
        *(_figures(text) for block, text in performance.items() if block.startswith(name[:-7]))
    )
    measured = _figures(in_readme)
    assert measured, in_readme
    assert measured <= in_docs, (
        f"in the README but not in docs/performance.md: {measured - in_docs}"
    )


def _generated_lines(text: str) -> set[int]:
    return {line for start, end in block_spans(text) for line in range(start, end + 1)}


def unlabelled_tables(page: Path, text: str) -> list[str]:
    """The tables of figures outside the generated blocks whose caption (the paragraph above)
    names no commit of this repository or no date."""
    generated = _generated_lines(text)
    found = blocks(page, text)
    unlabelled = []
    for index, block in enumerate(found):
        if block.kind != "table" or block.line in generated:
            continue
        data_rows = block.text.splitlines()[2:]
        if not any(re.search(r"\d", _ISSUE.sub("", _CODE.sub("", row))) for row in data_rows):
            continue  # a table of words
        caption = next(
            (b.text for b in reversed(found[:index]) if b.kind in ("paragraph", "item")), ""
        )
        label = _COMMIT.search(caption)
        if not (label and _DATE.search(caption) and _is_commit(label["commit"])):
            unlabelled.append(block.where())
    return unlabelled


def test_every_other_table_of_figures_says_the_commit_and_the_date_it_was_measured_at() -> None:
    text = PERFORMANCE.read_text(encoding="utf-8")
    assert unlabelled_tables(PERFORMANCE, text) == [], (
        "say just above each: measured at commit `abc1234` on YYYY-MM-DD"
    )


@cache
def _is_commit(commit: str) -> bool:
    done = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


# --- the checks above catch what they are for --------------------------------------------------


def test_a_figure_edited_by_hand_is_caught() -> None:
    text = PERFORMANCE.read_text(encoding="utf-8")
    content = blocks_in(text)["benchmarks.inprocess"]
    row = next(line for line in content.splitlines() if line.startswith("| guard "))
    edited_row = re.sub(r"\| (\d+)", lambda m: f"| {int(m[1]) - 1}", row, count=1)
    assert edited_row != row
    assert any(
        "benchmarks.inprocess differs" in problem
        for problem in mismatches(PERFORMANCE, text.replace(row, edited_row))
    )


def test_a_block_without_its_commit_and_date_is_caught() -> None:
    run = load_report("inprocess")["run"]
    text = PERFORMANCE.read_text(encoding="utf-8")
    stripped = text.replace(f"`{run['commit_short']}`", "").replace(run["date"], "")
    problems = mismatches(PERFORMANCE, stripped)
    assert "performance.md: benchmarks.inprocess names no date" in problems
    assert any("benchmarks.inprocess differs" in problem for problem in problems)


@pytest.mark.parametrize(
    ("caption", "caught"),
    [
        ("Measured at commit `{commit}` on 2026-12-04:", False),
        ("Measured at commit `{commit}`:", True),  # no date
        ("Measured on 2026-12-04:", True),  # no commit
        ("Measured at commit `0000000` on 2026-12-04:", True),  # not a commit of ours
    ],
)
def test_a_table_of_figures_without_its_commit_and_date_is_caught(
    caption: str, caught: bool
) -> None:
    commit = load_report("inprocess")["run"]["commit_short"]
    text = f"# Page\n\n{caption.format(commit=commit)}\n\n| a | b |\n| --- | --- |\n| x | 1.25 |\n"
    assert bool(unlabelled_tables(PERFORMANCE, text)) is caught
    words = "No figures here.\n\n| a | b |\n| --- | --- |\n| issue 21 | `--rounds 21` |\n"
    assert unlabelled_tables(PERFORMANCE, words) == []


def test_a_block_no_benchmark_renders_is_caught() -> None:
    stray = "<!-- begin: benchmarks.inprocess.old -->1.05<!-- end: benchmarks.inprocess.old -->"
    assert mismatches(PERFORMANCE, stray) == [
        "performance.md: benchmarks.inprocess.old is rendered by no benchmark the docs show"
    ]
