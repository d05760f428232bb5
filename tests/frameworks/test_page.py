"""docs/frameworks.md as a reader checks it: every close code its Channels section names for
daphne is in that section's table (a daphne cell, or the scenario's own code in the row's
title), or the claim names the test that shows it; its example error is the real one; and
``--check`` fails on a version change but never on a documented varying cell. Reads the
committed page; starts no server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.frameworks import prose, report
from tests.frameworks.observe import ROWS, Outcome
from tests.support.servers import REPO_ROOT

PAGE = report.DOC_PATH.read_text(encoding="utf-8")
CODE = re.compile(r"\b([1-4]\d{3})\b")
CHANNELS_SECTION = "Django Channels on uvicorn and on daphne"


def _section(title: str) -> list[str]:
    lines = PAGE.splitlines()
    start = lines.index(f"## {title}")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    return lines[start + 1 : end]


def _daphne_table() -> str:
    """The daphne cells of the section's table, and the titles of its rows."""
    table = [line for line in _section(CHANNELS_SECTION) if line.startswith("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    daphne = [i for i, title in enumerate(rows[0]) if title.startswith("daphne")]
    assert len(daphne) == 3, rows[0]
    return " ".join(row[i] for row in rows[2:] for i in [0, *daphne])


def _test_exists(name: str) -> bool:
    return any(
        f"def {name}(" in path.read_text(encoding="utf-8")
        for path in (REPO_ROOT / "tests").rglob("test_*.py")
    )


def test_every_code_named_for_daphne_is_in_its_table_or_its_test_is_named() -> None:
    assert prose.CHANNELS in PAGE
    in_table = set(CODE.findall(_daphne_table()))
    assert {"1011", "4011", "4013", "1000", "1013"} <= in_table
    bullets = [bullet for bullet in prose.CHANNELS.split("\n- ") if CODE.search(bullet)]
    assert len(bullets) >= 5
    for bullet in bullets:
        # 3000-4999: the range of codes daphne sends, named as a range.
        elsewhere = set(CODE.findall(bullet)) - in_table - {"3000", "4999"}
        if elsewhere:
            tests = re.findall(r"`(test_\w+)`", bullet)
            assert tests, f"{sorted(elsewhere)} named for daphne, in no cell: {bullet!r}"
            assert all(_test_exists(name) for name in tests), tests


def test_the_wrong_app_example_is_the_real_message() -> None:
    from quart import Quart

    from asgi_closeguard.frameworks.litestar import guard

    shown = re.search(
        r"\(`(asgi_closeguard\.frameworks\.litestar\.guard\(\).*?)`\)", prose.SETUP, re.S
    )
    assert shown is not None
    with pytest.raises(TypeError) as raised:
        guard(Quart(__name__))  # type: ignore[arg-type]
    assert str(raised.value) == " ".join(shown.group(1).split())


def test_check_fails_when_a_version_changed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    page = tmp_path / "frameworks.md"
    measured = f"{report.VERSIONS_PREFIX} uvicorn 0.0.1, daphne 4.2.3."
    page.write_text(f"# page\n{measured}\n", encoding="utf-8")
    monkeypatch.setattr(report, "DOC_PATH", page)

    def no_server(*args: object) -> object:
        raise AssertionError("no server starts when a version changed")

    monkeypatch.setattr(report, "observe_everything", no_server)
    assert report.main(["--check"]) == 1
    changed = report.stale_versions(measured, report.versions())
    assert changed[0].startswith("uvicorn: 0.0.1 -> ")


def test_a_documented_varying_cell_renders_the_same_whichever_text_it_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row = next(row for row in ROWS if row.id == "client-close")
    texts = ("reply 1000 ''", "no close frame (1006)")
    key = (report.DAPHNE, "channels", "raw", row.id)
    monkeypatch.setitem(report.VARYING, key, (texts, "daphne's own timer"))
    server, column, side, _ = key
    rendered = {
        report.cell_text(server, column, side, row, Outcome(text, None, None, leaked=False))
        for text in texts
    }
    assert rendered == {"reply 1000 '' or no close frame (1006) (varies)"}
    other = Outcome("left open", None, None, leaked=False)
    assert report.cell_text(server, column, side, row, other) == "left open"
    (note,) = report._varying_notes()
    assert note.startswith("- daphne / channels / client-close: reply 1000 '' or no close")
