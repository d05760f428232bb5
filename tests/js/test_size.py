"""The sizes docs/javascript.md gives for the exported module are the module's sizes."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from asgi_closeguard import LANGUAGES
from asgi_closeguard._export_js import export_js, export_types

DOC = Path(__file__).parents[2] / "docs" / "javascript.md"
#: The issue's budget for the module with every language.
BUDGET_BYTES = 150 * 1024


def kilobytes(size: int) -> int:
    # Decimal kilobytes, as the docs write them (the README says "about 62 KB" too).
    return round(size / 1000)


def documented_rows() -> dict[str, tuple[int, int]]:
    rows = re.findall(
        r"^\| (every language[^|]*|`\w+`) \| (\d+) KB \| (\d+) KB \|$",
        DOC.read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    return {name.strip("`"): (int(size), int(gzipped)) for name, size, gzipped in rows}


def test_every_language_has_a_row() -> None:
    assert set(documented_rows()) == {*LANGUAGES, f"every language ({', '.join(LANGUAGES)})"}


@pytest.mark.parametrize("row", ["every", *LANGUAGES])
def test_a_documented_size_is_the_modules(row: str) -> None:
    rows = documented_rows()
    if row == "every":
        key = next(name for name in rows if name.startswith("every language"))
        module = export_js().encode("utf-8")
    else:
        key = row
        module = export_js([row]).encode("utf-8")
    assert rows[key] == (kilobytes(len(module)), kilobytes(len(gzip.compress(module, 9))))


def test_the_module_stays_within_its_budget_and_the_declarations_are_small() -> None:
    assert len(export_js().encode("utf-8")) <= BUDGET_BYTES
    text = DOC.read_text(encoding="utf-8")
    assert f"The declarations are about {kilobytes(len(export_types().encode()))} KB." in text


def test_the_share_of_connect_is_what_the_doc_says() -> None:
    module = export_js(["en"])
    client = module[module.index("/**\n * The options of connect()") :].encode("utf-8")
    half_kilobytes = round(len(client) / 500) / 2
    assert f"`connect()` is about {half_kilobytes:g} KB of it" in DOC.read_text(encoding="utf-8")
