"""Debian packages the test run installs itself: real infrastructure, as users run it.

HAProxy (the load balancer of the rolling-deploy tests) and Prometheus with ``promtool`` (the
observability docs' queries and rules) come from Debian's packages. :func:`require` returns the
path of a program, installing its package with ``apt-get`` first when the machine lacks it and
the run is root (as CI is); elsewhere it fails with the command to run, never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

__all__ = ["PackageMissingError", "require"]

# One install at a time: pytest-xdist is not used, but two fixtures may ask in one session.
_lock = threading.Lock()
# Whether this run has refreshed apt's package index yet: once is enough.
_index_fresh: list[bool] = []
# apt-get on a cold machine: the index update and the download, bounded.
_APT_TIMEOUT = 600


class PackageMissingError(RuntimeError):
    """A program the tests need is missing and could not be installed."""


def require(program: str, package: str | None = None) -> str:
    """The absolute path of ``program``, from Debian's ``package`` (default: its name)."""
    package = package or program
    found = _which(program)
    if found:
        return found
    with _lock:
        found = _which(program)
        if found:
            return found
        if os.geteuid() != 0:
            raise PackageMissingError(
                f"{program} is missing: run `sudo apt-get install {package}`, then the tests again"
            )
        _apt_install(package)
    found = _which(program)
    if not found:
        raise PackageMissingError(f"apt-get installed {package}, but {program} is still missing")
    return found


def _which(program: str) -> str | None:
    # Debian puts daemons in /usr/sbin, which a non-login PATH may leave out.
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")


def _apt_install(package: str) -> None:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _index_fresh:
        subprocess.run(
            ["apt-get", "update", "-qq"], check=True, env=environment, timeout=_APT_TIMEOUT
        )
        _index_fresh.append(True)
    # --no-install-recommends: the daemon alone; nothing is started as a service by the tests'
    # install (Debian's policy-rc.d is not relied on: the tests start their own instances).
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        env=environment,
        timeout=_APT_TIMEOUT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PackageMissingError(
            f"apt-get install {package} failed ({result.returncode}):\n{result.stderr[-2000:]}"
        )
