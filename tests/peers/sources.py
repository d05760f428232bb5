"""The peers' own test suites, from their PyPI source distributions, cached on disk.

Starlette's and FastAPI's sdists ship their ``tests/`` (FastAPI's tutorial tests also import
its ``docs_src/``). :func:`peer_tree` downloads the sdist of the *installed* version with
``pip download --no-binary NAME --no-deps`` and extracts just those parts plus the project's
``pyproject.toml`` (its pytest configuration: ``filterwarnings = error``, strict markers), never
the package itself: the suites must test the installed framework.

``--no-binary NAME``, not ``:all:``: pip prepares the sdist's metadata in an isolated build
environment, and ``:all:`` would build that environment's backend (hatchling, pdm-backend) and
all its dependencies from source too — minutes on a cold machine instead of seconds.

The cache lives in the system temp directory (``$CLOSEGUARD_PEERS_CACHE`` overrides it), keyed
by name and version, so it outlives a fresh clone and needs no ``.gitignore`` line. Every step
writes into a private directory and renames it into place, so two test runs at once never see
half a tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path, PurePosixPath

__all__ = ["CACHE_ENV", "cache_root", "peer_tree"]

CACHE_ENV = "CLOSEGUARD_PEERS_CACHE"

#: What a peer's test run needs from its sdist, besides ``tests/`` and ``pyproject.toml``.
EXTRA_DIRS: dict[str, tuple[str, ...]] = {"fastapi": ("docs_src",)}

#: pip fetches the sdist's build backend to read its metadata; seconds, unless PyPI is slow.
DOWNLOAD_TIMEOUT = 120.0

_COMPLETE = ".complete"


def cache_root() -> Path:
    """Where sdists and extracted trees are kept."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "asgi-closeguard-peers"


def peer_tree(name: str) -> Path:
    """The extracted tests of the installed version of ``name``; downloaded on first use."""
    installed = version(name)
    root = cache_root()
    tree = root / f"{name}-{installed}"
    if (tree / _COMPLETE).exists():
        return tree
    root.mkdir(parents=True, exist_ok=True)
    sdist = _download(name, installed, root)
    _extract(sdist, tree, ("tests", "pyproject.toml", *EXTRA_DIRS.get(name, ())))
    return tree


def _download(name: str, installed: str, root: Path) -> Path:
    target = root / f"{name}-{installed}.tar.gz"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(dir=root) as private:
        command = [
            sys.executable, "-m", "pip", "download",
            "--no-binary", name, "--no-deps", "--disable-pip-version-check",
            "--dest", private,
            f"{name}=={installed}",
        ]  # fmt: skip
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False
        )
        found = sorted(Path(private).glob("*.tar.gz"))
        if completed.returncode != 0 or len(found) != 1:
            raise RuntimeError(
                f"pip download of {name}=={installed} failed ({completed.returncode}):\n"
                f"{completed.stdout}\n{completed.stderr}"
            )
        os.replace(found[0], target)
    return target


def _extract(sdist: Path, tree: Path, wanted: tuple[str, ...]) -> None:
    """Extract the ``wanted`` top-level entries of the sdist's single root directory."""
    private = Path(tempfile.mkdtemp(dir=tree.parent, prefix=f".{tree.name}-"))
    try:
        with tarfile.open(sdist) as archive:
            members = [member for member in archive.getmembers() if _wanted(member, wanted)]
            for member in members:
                # Drop the sdist's root directory ("fastapi-0.165.0/tests/..." → "tests/...").
                member.name = str(PurePosixPath(*PurePosixPath(member.name).parts[1:]))
            archive.extractall(private, members=members, **_safe_filter())
        (private / _COMPLETE).touch()
        try:
            os.rename(private, tree)
        except OSError:  # another run put its copy in place first: keep that one
            if not (tree / _COMPLETE).exists():
                raise
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _wanted(member: tarfile.TarInfo, wanted: tuple[str, ...]) -> bool:
    parts = PurePosixPath(member.name).parts
    return (
        (member.isfile() or member.isdir())
        and len(parts) >= 2
        and parts[1] in wanted
        and ".." not in parts
        and not member.name.startswith("/")
    )


def _safe_filter() -> dict[str, str]:
    # Python 3.12 (and the security releases of 3.10 and 3.11) can refuse anything but plain
    # data; older ones get the same guarantee from _wanted() alone.
    return {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
