"""The page renderer's staleness check, without servers."""

from __future__ import annotations

from pathlib import Path

from tests.servers.report import VERSIONS_PREFIX, stale_diff

PAGE = f"# title\n{VERSIONS_PREFIX} x 1.0.\n| a | 1 |\n| b | 2 |\n"


def write(tmp: Path, text: str) -> Path:
    path = tmp / "servers.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_same_page_is_not_stale(tmp_path: Path) -> None:
    path = write(tmp_path, PAGE)
    assert stale_diff(PAGE, path) == ""
    # Another version line alone does not make the page stale.
    assert stale_diff(PAGE.replace("x 1.0", "x 2.0"), path) == ""


def test_a_line_is_confirmed_by_any_rendering(tmp_path: Path) -> None:
    path = write(tmp_path, PAGE)
    flipped_a = PAGE.replace("| a | 1 |", "| a | 9 |")
    flipped_b = PAGE.replace("| b | 2 |", "| b | 9 |")
    assert stale_diff([flipped_a, flipped_b], path) == ""
    diff = stale_diff([flipped_a, flipped_a], path)
    assert "-| a | 1 |" in diff
    assert "+| a | 9 |" in diff


def test_a_missing_page_is_stale(tmp_path: Path) -> None:
    assert "+# title" in stale_diff(PAGE, tmp_path / "absent.md")
