"""Just enough Markdown for the docs' checks: blocks with their section, and fenced code.

A page is cut into :class:`Block` s — paragraphs, list items, tables (one block each, caption
paragraphs apart), fenced code — each with the headings above it, so a check can say
"docs/contract.md, section 'What the app sees', the table after 'event | today'". Headings and
HTML comments are not blocks.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from tests.support.servers import REPO_ROOT

Kind = Literal["paragraph", "item", "table", "code"]

#: A test named in a page: a backquoted name such as `test_no_guarded_client_gets_1000`.
CITATION = re.compile(r"`(test_[A-Za-z0-9_]+)(?:\[[^\]`]*\])?`")

_FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")
_ITEM = re.compile(r"^(?:[-*+]|\d+\.)\s")


@dataclass(frozen=True)
class Block:
    """One paragraph, list item, table or fenced code block of a page."""

    path: Path
    line: int  # 1-based line of its first line
    kind: Kind
    section: tuple[str, ...]  # the headings above it, outermost first
    text: str
    lang: str = ""  # a fence's info string, for code

    @property
    def citations(self) -> list[str]:
        """The tests the block names."""
        return CITATION.findall(self.text)

    def where(self) -> str:
        """``docs/x.md:12 (Section > Sub)``, for messages."""
        path = self.path.relative_to(REPO_ROOT) if self.path.is_relative_to(REPO_ROOT) else self
        section = " > ".join(self.section) or "top"
        return f"{path}:{self.line} ({section})"

    @property
    def body(self) -> str:
        """The text without a list item's marker."""
        return _ITEM.sub("", self.text.lstrip(), count=1)

    def opening(self, words: int = 8) -> str:
        """The block's first words, to name it in messages and in exemption lists."""
        return " ".join(self.text.split()[:words])


def blocks(path: Path, text: str | None = None) -> list[Block]:
    """Every block of the page at ``path`` (or of ``text``), in order."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    found: list[Block] = []
    headings: list[tuple[int, str]] = []
    index = 0

    def add(kind: Kind, start: int, end: int, lang: str = "") -> None:
        body = "\n".join(lines[start:end])
        section = tuple(title for _, title in headings)
        found.append(Block(path, start + 1, kind, section, body, lang))

    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        fence = _FENCE.match(stripped)
        if fence:
            end = index + 1
            while end < len(lines) and not lines[end].strip().startswith(fence.group(1)):
                end += 1
            add("code", index + 1, end, fence.group(2))
            index = end + 1
        elif not stripped:
            index += 1
        elif stripped.startswith("#"):
            level = len(stripped) - len(stripped.lstrip("#"))
            headings = [h for h in headings if h[0] < level] + [(level, stripped[level:].strip())]
            index += 1
        elif stripped.startswith("<!--"):
            while index < len(lines) and "-->" not in lines[index]:
                index += 1
            index += 1
        elif stripped.startswith("|"):
            end = index
            while end < len(lines) and lines[end].strip().startswith("|"):
                end += 1
            add("table", index, end)
            index = end
        elif _ITEM.match(stripped):
            end = index + 1
            while end < len(lines) and lines[end].startswith((" ", "\t")) and lines[end].strip():
                end += 1
            add("item", index, end)
            index = end
        else:
            end = index + 1
            while end < len(lines) and _continues_paragraph(lines[end]):
                end += 1
            add("paragraph", index, end)
            index = end
    return found


def _continues_paragraph(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not (
        stripped.startswith(("#", "|", "<!--")) or _FENCE.match(stripped) or _ITEM.match(stripped)
    )


def code_blocks(path: Path, *langs: str) -> list[Block]:
    """The fenced code blocks of a page whose info string is one of ``langs``."""
    return [block for block in blocks(path) if block.kind == "code" and block.lang in langs]


@cache
def defined_tests() -> frozenset[str]:
    """The name of every test function and method under ``tests/``."""
    names: set[str] = set()
    for module in (REPO_ROOT / "tests").rglob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                names.add(node.name)
    return frozenset(names)
