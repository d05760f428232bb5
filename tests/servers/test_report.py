"""The page renderer's staleness check, without servers."""

from __future__ import annotations

from pathlib import Path

from tests.servers.report import (
    SHUTDOWN_BEGIN,
    SHUTDOWN_END,
    VERSIONS_PREFIX,
    _with_shutdown,
    heading,
    part_of,
    stale_diff,
)

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


def test_each_part_is_checked_on_its_own(tmp_path: Path) -> None:
    section = f"{SHUTDOWN_BEGIN}\n| shutdown | 1 |\n{SHUTDOWN_END}\n"
    path = write(tmp_path, PAGE + section)
    other_section = section.replace("| 1 |", "| 2 |")
    other_tables = PAGE.replace("| a | 1 |", "| a | 9 |") + section
    assert stale_diff(PAGE + other_section, path, part="conformance") == ""
    assert "+| shutdown | 2 |" in stale_diff(PAGE + other_section, path, part="shutdown")
    assert stale_diff(other_tables, path, part="shutdown") == ""
    assert "+| a | 9 |" in stale_diff(other_tables, path, part="conformance")
    assert part_of(PAGE + section, "shutdown") == ["| shutdown | 1 |"]


def test_a_new_shutdown_section_replaces_the_old_one() -> None:
    page = PAGE + f"{SHUTDOWN_BEGIN}\nold\n{SHUTDOWN_END}\n## Regenerate\n"
    assert (
        _with_shutdown(page, "new\n")
        == PAGE + f"{SHUTDOWN_BEGIN}\nnew\n{SHUTDOWN_END}\n## Regenerate\n"
    )


def test_uvicorn_headings_name_the_implementation_that_ran() -> None:
    implementations = {
        "uvicorn-websockets": "uvicorn.protocols.websockets.websockets_sansio_impl.Protocol",
        "daphne": "functools.partial",
    }
    assert heading("uvicorn-websockets", implementations).endswith(
        "<br>runs `websockets_sansio_impl`"
    )
    assert heading("uvicorn-wsproto", implementations) == "uvicorn<br>`--ws wsproto`"
    assert heading("daphne", implementations) == "daphne"
