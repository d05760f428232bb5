"""``LICENSE`` and ``CHANGELOG.md``: there, shipped, and in a shape others can add to."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import asgi_closeguard
from tests.support.servers import REPO_ROOT

LICENSE = REPO_ROOT / "LICENSE"
CHANGELOG = REPO_ROOT / "CHANGELOG.md"

#: ``## 0.3.0 — 2026-12-04`` or ``## 0.3.0 — in progress``.
RELEASE_HEADING = re.compile(r"^## (\d+\.\d+\.\d+) — (\d{4}-\d{2}-\d{2}|in progress)$", re.M)


def _table(name: str) -> str:
    """The text of one table of ``pyproject.toml`` (no tomllib on Python 3.10)."""
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return text.split(f"\n[{name}]\n", 1)[1].split("\n[", 1)[0]


def test_license_is_mit_as_pyproject_says() -> None:
    text = LICENSE.read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    project = _table("project")
    assert 'license = "MIT"' in project
    assert 'license-files = ["LICENSE"]' in project


def test_the_sdist_ships_license_and_changelog() -> None:
    include = _table("tool.hatch.build.targets.sdist")
    for name in ("LICENSE", "CHANGELOG.md", "README.md"):
        assert f'"{name}",' in include, name


@pytest.mark.slow  # builds the wheel
def test_the_wheel_ships_the_license(tmp_path: Path) -> None:
    # pip builds the wheel as a user's `pip install .` does (hatchling in an isolated env).
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=REPO_ROOT,
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("asgi_closeguard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        licenses = [name for name in archive.namelist() if name.endswith("/licenses/LICENSE")]
        assert len(licenses) == 1, archive.namelist()
        assert archive.read(licenses[0]).decode() == LICENSE.read_text(encoding="utf-8")
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        assert "License-File: LICENSE" in archive.read(metadata).decode()


def releases() -> list[tuple[str, str]]:
    """``(version, date or "in progress")`` of every release heading, in the file's order."""
    return RELEASE_HEADING.findall(CHANGELOG.read_text(encoding="utf-8"))


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_changelog_has_every_release_newest_first() -> None:
    found = releases()
    versions = [version for version, _ in found]
    assert {"0.1.0", "0.2.0", "0.3.0"} <= set(versions)
    assert versions == sorted(versions, key=_key, reverse=True)
    assert len(set(versions)) == len(versions)
    # Only the newest release may still be in progress; the others carry their date.
    assert all(date != "in progress" for _, date in found[1:])


def test_changelog_knows_the_packages_own_version() -> None:
    assert asgi_closeguard.__version__ in {version for version, _ in releases()}


def test_every_changelog_heading_is_a_release_or_a_kind_of_change() -> None:
    # Whoever adds a line puts it under Added, Changed or Fixed of a release.
    text = CHANGELOG.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("## "):
            assert RELEASE_HEADING.match(line), line
        elif line.startswith("### "):
            assert line in ("### Added", "### Changed", "### Fixed"), line


def test_the_0_3_0_notes_name_what_the_release_brings() -> None:
    text = CHANGELOG.read_text(encoding="utf-8")
    notes = text.split("## 0.3.0", 1)[1].split("\n## ", 1)[0]
    for thing in (
        "`Drain`",
        'refuse_with="close"',
        "`AppCode`",
        "`connect()`",
        "TypeScript",
        "installed twice",
        "when the guard is built",
        "mounts",
        "`GuardOptions`",
        "open-connections gauge",
    ):
        assert thing in notes, thing
