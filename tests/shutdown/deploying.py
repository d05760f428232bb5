"""The runs behind ``docs/deploying.md``: each server stopped the ways a deploy stops it.

Every run is guarded, serves only the plain app, and is watched by the python client only;
each is named by its :attr:`~tests.shutdown.run.Run.variant`. ``tests/shutdown/test_deploying.py``
checks every claim of the page on them.
"""

from __future__ import annotations

import signal

from tests.shutdown.run import SETTLE, Run

#: How long a server that should not exit is watched before it counts as still running.
STAYS_UP_FOR = 4.0


def _run(kind: str, variant: str, scenarios: tuple[str, ...], **options: object) -> Run:
    return Run(
        kind=kind,
        side="guarded",
        apps=("plain",),
        scenarios=scenarios,
        browser=False,
        variant=variant,
        settle=SETTLE.get(kind, 0.0),
        **options,  # type: ignore[arg-type]
    )


#: ``{variant: Run}``: the name each test and the page use.
DEPLOY_RUNS: dict[str, Run] = {
    # uvicorn waits for every handler without limit: one that never reads is never told.
    "uvicorn-no-limit": _run(
        "uvicorn-websockets-sansio", "no-limit", ("silent",), watch_for=STAYS_UP_FOR
    ),
    "uvicorn-limit": _run(
        "uvicorn-websockets-sansio",
        "limit",
        ("silent", "idle"),
        extra_args=("--timeout-graceful-shutdown", "1"),
    ),
    "hypercorn-graceful-1": _run(
        "hypercorn", "graceful-1", ("idle", "stream"), extra_args=("--graceful-timeout", "1")
    ),
    # systemd's default KillMode=control-group signals every process of the unit at once.
    "hypercorn-group": _run("hypercorn", "group", ("idle", "stream"), group=True),
    # A shell script's background job (`daphne app &`) starts with SIGINT ignored.
    "daphne-sigint-ignored": _run(
        "daphne",
        "sigint-ignored",
        ("idle",),
        signum=signal.SIGINT,
        ignored_signals=(signal.SIGINT,),
        watch_for=STAYS_UP_FOR,
    ),
    # At its default verbosity (1) daphne sends Twisted's own log nowhere; at 2 it shows.
    "daphne-upload": _run("daphne", "upload", ("idle", "stream"), upload_in_progress=True),
    "daphne-upload-v2": _run(
        "daphne", "upload-v2", ("idle",), upload_in_progress=True, extra_args=("-v", "2")
    ),
    # gunicorn's quick shutdown, with its default 30-second --graceful-timeout.
    "gunicorn-sigquit": _run("gunicorn", "sigquit", ("idle", "stream"), signum=signal.SIGQUIT),
    "gunicorn-sigint": _run("gunicorn", "sigint", ("idle", "stream"), signum=signal.SIGINT),
}
