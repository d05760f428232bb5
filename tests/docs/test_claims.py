"""Every claim of the user docs names the test that shows it, and that test exists.

The pages below make promises a user acts on: which code a client gets, how to stop a server,
what a reconnecting client does. In each, every paragraph, list item and table names at least
one test in backquotes (`test_no_guarded_client_gets_1000`); a table may name its tests in each
row or in the paragraph right before or after it (its caption). Blocks that promise nothing —
an introduction, how to read a table — are listed in :data:`NOT_CLAIMS` with the reason, by
their first words. The check fails when a block names no test, when a named test is gone (no
function of that name under ``tests/``), and when an entry of :data:`NOT_CLAIMS` no longer
matches a block.

``docs/deploying.md``'s section "Draining before a deploy" (written with the ``Drain`` feature)
is held to the citations only: every test it names must exist, and it must name at least one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.markdown import Block, blocks, defined_tests
from tests.support.servers import REPO_ROOT

PAGES = (
    "docs/deploying.md",
    "docs/reconnecting.md",
    "docs/contract.md",
    "docs/servers.md",
    "docs/refusals.md",
)

#: Sections held to their citations only (see the module's docstring).
CITATIONS_ONLY = {"docs/deploying.md": ("Draining before a deploy",)}

#: ``{page: {first words of a block: why it promises nothing}}``.
NOT_CLAIMS: dict[str, dict[str, str]] = {
    "docs/deploying.md": {
        "The servers disagree completely about what they": "what the page is about",
        "Two traps:": "the lead-in of the two items below, each of which names its test",
    },
    "docs/reconnecting.md": {
        "A close code is read twice: once by": "what the page is about",
        "There is no shared convention. The popular": "the lead-in of the table below",
    },
    "docs/contract.md": {
        "This page says, row by row, what a": "what the page is about",
        "The rules come from two documents:": "the lead-in of the sources below",
        "**RFC 6455**, the WebSocket protocol.": "a source: what the RFC says",
        "**The ASGI WebSocket spec** (2.5).": "a source: what the ASGI spec says",
    },
    "docs/servers.md": {
        "How to read a cell: the first line": "how to read the tables",
        "Measured with ": "the versions line, checked by the page's own staleness test",
        "These decisions happen inside the server's own": "the lead-in of the notes below",
        "`python -m tests.servers.report` starts the seven": "how to regenerate the page",
    },
    "docs/refusals.md": {
        "An app that checks a token or a": "what the page is about",
        "To run the measurement again": "how to run the measurement",
    },
}


def page_blocks(page: str) -> list[Block]:
    """The blocks of ``page`` that can hold a claim (no code, which the commands test runs)."""
    return [block for block in blocks(REPO_ROOT / page) if block.kind != "code"]


def _exempt(page: str, block: Block) -> bool:
    return any(block.body.startswith(words) for words in NOT_CLAIMS.get(page, {}))


def _in_section(block: Block, title: str) -> bool:
    return any(heading.startswith(title) for heading in block.section)


def _citations_only(page: str, block: Block) -> bool:
    return any(_in_section(block, title) for title in CITATIONS_ONLY.get(page, ()))


def uncited(page: str, found: list[Block] | None = None) -> list[Block]:
    """The blocks of ``page`` that name no test and are not exempt."""
    found = page_blocks(page) if found is None else found
    missing = []
    for index, block in enumerate(found):
        if block.citations or _exempt(page, block) or _citations_only(page, block):
            continue
        if block.kind == "table" and _captioned(found, index):
            continue
        missing.append(block)
    return missing


def _captioned(found: list[Block], index: int) -> bool:
    """Whether the paragraph right before or after the table at ``index`` names a test."""
    neighbours = [found[i] for i in (index - 1, index + 1) if 0 <= i < len(found)]
    return any(
        block.kind == "paragraph" and block.citations and block.section == found[index].section
        for block in neighbours
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_claim_names_a_test(page: str) -> None:
    missing = [f"{block.where()}: {block.opening()} …" for block in uncited(page)]
    assert missing == [], (
        "these blocks name no test: cite the test that shows each claim (`test_name`), "
        "or list the block in NOT_CLAIMS with why it promises nothing"
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_named_test_exists(page: str) -> None:
    known = defined_tests()
    gone = [
        f"{block.where()}: `{name}`"
        for block in page_blocks(page)
        for name in block.citations
        if name not in known
    ]
    assert gone == [], "the page names tests that do not exist under tests/"


@pytest.mark.parametrize("page", PAGES)
def test_every_exemption_still_matches_a_block(page: str) -> None:
    found = page_blocks(page)
    stale = [
        words
        for words in NOT_CLAIMS.get(page, {})
        if not any(block.body.startswith(words) for block in found)
    ]
    assert stale == [], "NOT_CLAIMS names blocks the page no longer has"


@pytest.mark.parametrize(("page", "titles"), CITATIONS_ONLY.items())
def test_a_citations_only_section_names_tests_when_it_is_there(
    page: str, titles: tuple[str, ...]
) -> None:
    for title in titles:
        inside = [block for block in page_blocks(page) if _in_section(block, title)]
        if inside:  # written with the feature it documents
            assert any(block.citations for block in inside), title


# --- the checker itself, on pages made up for it ------------------------------------------------


def _page(tmp_path: Path, text: str) -> list[Block]:
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    return [block for block in blocks(path) if block.kind != "code"]


def test_the_checker_finds_a_claim_without_a_test(tmp_path: Path) -> None:
    found = _page(
        tmp_path,
        "# Page\n\nThe guard sends 1012 (`test_no_guarded_client_gets_1000`).\n\n"
        "It also sends 1000.\n\n- an item with `test_x`\n- an item without\n",
    )
    assert [block.body for block in uncited("page.md", found)] == [
        "It also sends 1000.",
        "an item without",
    ]


def test_a_table_is_covered_by_its_rows_or_its_caption(tmp_path: Path) -> None:
    found = _page(
        tmp_path,
        "## A\n\nChecked by `test_a`:\n\n| x | y |\n| --- | --- |\n| 1 | 2 |\n\n"
        "## B\n\n| x | y |\n| --- | --- |\n| 1 | `test_b` |\n\n"
        "## C\n\n| x | y |\n| --- | --- |\n| 1 | 2 |\n\nAfter it, no test.\n",
    )
    assert [(block.kind, block.section) for block in uncited("page.md", found)] == [
        ("table", ("C",)),
        ("paragraph", ("C",)),
    ]


def test_citations_are_read_with_or_without_a_parameter(tmp_path: Path) -> None:
    (block,) = _page(tmp_path, "Shown by `test_a[daphne]` and `test_b`, not by `other`.\n")
    assert block.citations == ["test_a", "test_b"]


def test_a_citations_only_section_may_hold_a_paragraph_without_a_test(tmp_path: Path) -> None:
    found = _page(
        tmp_path,
        "## Draining before a deploy (`Drain`)\n\nWhy a drain helps.\n\n"
        "It closes with 1012 (`test_x`).\n\n## Next\n\nNo test here.\n",
    )
    page = "docs/deploying.md"
    assert [block.body for block in uncited(page, found)] == ["No test here."]


def test_the_tests_of_every_directory_are_known() -> None:
    known = defined_tests()
    assert "test_every_claim_names_a_test" in known
    assert "test_no_guarded_client_gets_1000" in known  # tests/shutdown
    assert "test_guarded_outcome_is_the_contract" in known  # tests/servers
