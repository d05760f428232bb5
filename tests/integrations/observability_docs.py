"""``docs/observability.md`` read as the tests need it: its code blocks, its PromQL in order,
the table of which query holds on which server, the alerting rule and the relabelling.

The tests take every snippet, query and rule from the page as it stands, so that what a reader
pastes is what was run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)

#: The section whose PromQL blocks are the rows of the table that closes it, in order.
QUERIES_SECTION = "## PromQL for the usual questions"
#: The row of that table that stands for the alerting rule.
RULE_ROW = "the alerting rule below"
#: ✓ in the table: the query answers its question on that server.
HOLDS = "✓"


def text() -> str:
    return DOC.read_text(encoding="utf-8")


def code_blocks(language: str, within: str | None = None) -> list[str]:
    """Every fenced block of ``language``, in order, in the page or in one of its sections."""
    source = text() if within is None else section(within)
    return [body for lang, body in _FENCE.findall(source) if lang == language]


def block_containing(language: str, *fragments: str) -> str:
    """The one block of ``language`` that holds every one of ``fragments``."""
    found = [body for body in code_blocks(language) if all(f in body for f in fragments)]
    if len(found) != 1:
        raise LookupError(f"{len(found)} {language} blocks hold {fragments} in {DOC.name}")
    return found[0]


def section(heading: str) -> str:
    """The text from ``heading`` to the next heading of the same level or above."""
    source = text()
    start = source.index(heading + "\n")
    level = len(heading.split(" ", 1)[0])
    following = re.search(rf"^#{{1,{level}}} ", source[start + len(heading) :], re.MULTILINE)
    end = len(source) if following is None else start + len(heading) + following.start()
    return source[start:end]


@dataclass(frozen=True)
class QueryRow:
    """One row of the table "Which query holds on which server"."""

    name: str
    expression: str
    #: The table's cell for each of its server columns, by the column's heading.
    cells: dict[str, str]

    def holds_on(self, column: str) -> bool:
        return self.cells[column] == HOLDS


def server_columns() -> list[str]:
    header, _ = _holds_table()
    return header[1:]


def query_rows() -> list[QueryRow]:
    """The table's rows, each with its query: the section's PromQL blocks in order, then the
    alerting rule's ``expr`` for the rule's row."""
    header, rows = _holds_table()
    expressions = [*code_blocks("promql", within=QUERIES_SECTION), alerting_rule_expression()]
    names = [row[0] for row in rows]
    if len(expressions) != len(rows) or names[-1] != RULE_ROW:
        raise LookupError(
            f"{DOC.name}: {len(rows)} rows in the table for {len(expressions) - 1} PromQL "
            f"blocks and the rule; every query needs its row, in order, and the rule the last"
        )
    return [
        QueryRow(row[0], expression, dict(zip(header[1:], row[1:], strict=True)))
        for row, expression in zip(rows, expressions, strict=True)
    ]


def _holds_table() -> tuple[list[str], list[list[str]]]:
    lines = [
        line
        for line in section("### Which query holds on which server").splitlines()
        if line.startswith("|")
    ]
    header, _rule, *rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    return header, rows


def alerting_rules() -> str:
    """The rules file of "An alerting rule", as it stands."""
    return block_containing("yaml", "groups:", "alert:")


def alerting_rule_expression() -> str:
    """The ``expr`` of the one alerting rule: the block scalar under ``expr: |``."""
    lines = alerting_rules().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "expr: |")
    indent = len(lines[start]) - len(lines[start].lstrip())
    body = []
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        body.append(line)
    return "\n".join(body).strip() + "\n"


def relabelling() -> str:
    """The scrape configuration that folds clients' codes into their range."""
    return block_containing("yaml", "scrape_configs:", "metric_relabel_configs:")
