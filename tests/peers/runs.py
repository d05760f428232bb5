"""Run a peer's test files in a subprocess pytest, raw or with the guard around every app.

The subprocess runs from the peer's extracted tree with the peer's own ``pyproject.toml`` as
its configuration, and loads :mod:`closeguard_plugin` (from this directory, by its own name:
the peer's test package is called ``tests`` too). Several runs start at once and are waited
for together, each bounded: a run still going at its deadline is killed by its PID.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

__all__ = ["PLUGIN_DIR", "Finished", "Run", "outcome_changes", "peer_environment"]

#: This directory: it holds ``closeguard_plugin.py`` and the loop script.
PLUGIN_DIR = Path(__file__).resolve().parent

#: Do-nothing stand-ins for dev-only tools a peer's conftest imports unconditionally.
STAND_INS = PLUGIN_DIR / "stand_ins"

#: A peer test that hangs fails on its own (pytest-timeout), not the whole run.
PER_TEST_TIMEOUT = 60


def peer_environment(tree: Path) -> dict[str, str]:
    """The environment of a peer run: the plugin and the peer's tree importable, nothing else.

    Our own ``PYTHONPATH`` (which may hold this repository, whose ``tests`` would shadow the
    peer's), extra pytest options and coverage hooks of the outer run are left out. The
    stand-ins come last, and only for a tool that is not installed.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "COV_CORE_", "COVERAGE_")) and key != "PYTHONPATH"
    }
    path = [str(PLUGIN_DIR), str(tree)]
    if find_spec("blockbuster") is None:
        path.append(str(STAND_INS))
    env["PYTHONPATH"] = os.pathsep.join(path)
    return env


@dataclass
class Finished:
    """What a finished run left: its exit status, its output, and the outcomes file's content."""

    returncode: int
    output: str
    outcomes: dict[str, dict[str, str]]


@dataclass
class Run:
    """One subprocess, started at once; :meth:`wait` collects it."""

    argv: list[str]
    cwd: Path
    outcomes_path: Path | None = None
    _process: subprocess.Popen[bytes] = field(init=False, repr=False)
    _log: Path = field(init=False, repr=False)

    def __post_init__(self) -> None:
        handle, name = tempfile.mkstemp(prefix="closeguard-peer-", suffix=".log")
        self._log = Path(name)
        try:
            self._process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=peer_environment(self.cwd),
                stdin=subprocess.DEVNULL,
                stdout=handle,  # a file, never a pipe nobody reads
                stderr=subprocess.STDOUT,
            )
        finally:
            os.close(handle)

    @classmethod
    def pytest(cls, tree: Path, files: list[str], outcomes: Path, *, guarded: bool) -> Run:
        """The peer's ``files`` under pytest, with the peer's configuration."""
        argv = [
            sys.executable, "-m", "pytest",
            "-c", str(tree / "pyproject.toml"), "--rootdir", str(tree),
            "-q", "-p", "no:cacheprovider", "-p", "closeguard_plugin",
            f"--timeout={PER_TEST_TIMEOUT}",
            f"--closeguard-outcomes={outcomes}",
            *(["--closeguard-wrap"] if guarded else []),
            *files,
        ]  # fmt: skip
        return cls(argv, tree, outcomes)

    @classmethod
    def script(cls, tree: Path, script: str, *args: str) -> Run:
        """A script from this directory, run from the peer's tree."""
        return cls([sys.executable, str(PLUGIN_DIR / script), *args], tree)

    def wait(self, deadline: float) -> Finished:
        """Wait until ``deadline`` (a ``time.monotonic()`` value); kill the run past it."""
        try:
            returncode = self._process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            returncode = -9
        output = self._log.read_text(errors="replace")
        self._log.unlink(missing_ok=True)
        outcomes: dict[str, dict[str, str]] = {}
        if self.outcomes_path is not None and self.outcomes_path.exists():
            outcomes = json.loads(self.outcomes_path.read_text())
        return Finished(returncode, output, outcomes)

    def kill(self) -> None:
        """Stop the run by its PID if it is still going, and remove its log."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._log.unlink(missing_ok=True)


def outcome_changes(
    raw: dict[str, dict[str, str]], guarded: dict[str, dict[str, str]]
) -> dict[str, tuple[str, str, str]]:
    """``{node id: (raw outcome, guarded outcome, guarded message)}`` for every test that differs.

    A test missing from one run counts as ``"not run"`` there.
    """
    missing = {"outcome": "not run", "message": ""}
    changes = {}
    for nodeid in sorted(raw.keys() | guarded.keys()):
        before, after = raw.get(nodeid, missing), guarded.get(nodeid, missing)
        if before["outcome"] != after["outcome"]:
            changes[nodeid] = (before["outcome"], after["outcome"], after["message"])
    return changes
