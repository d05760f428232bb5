"""Loop FastAPI's ``test_websocket_dependency_after_yield_broken`` behind the guard.

Run as a script inside an extracted FastAPI source tree (its ``tests`` package importable)::

    python loop_broken_dependency.py RUNS SECONDS

The test's app raises ``ValueError("Session closed")`` right after ``accept()``; the test
expects that exception out of ``TestClient.websocket_connect``. Behind the guard a
cancellation used to land while the guard sent its 1011 or waited for the client's close, and
replace the app's exception (which an anyio cancel scope then swallowed): the contract says the
app's own exception always escapes. Each run calls the test function once; the loop stops after
``RUNS`` runs or ``SECONDS`` seconds, whichever comes first, and prints one JSON object: how
many runs, how many lost the ``ValueError`` and what escaped instead.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections import Counter

import pytest
from closeguard_plugin import wrap_every_test_client

PEER_MODULE = "tests.test_dependency_after_yield_websockets"
PEER_TEST = "test_websocket_dependency_after_yield_broken"


def main(runs: int, seconds: float) -> dict[str, object]:
    """Call the peer test up to ``runs`` times within ``seconds``; count what went wrong."""
    wrap_every_test_client()  # before the import: the module builds its TestClient at import
    test = getattr(importlib.import_module(PEER_MODULE), PEER_TEST)
    lost: Counter[str] = Counter()
    done = 0
    deadline = time.monotonic() + seconds
    while done < runs and time.monotonic() < deadline:
        done += 1
        try:
            test()
        except pytest.fail.Exception:  # pytest.raises saw no ValueError at all
            lost["nothing raised"] += 1
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # something else replaced the ValueError
            lost[type(exc).__qualname__] += 1
    return {"runs": done, "lost": sum(lost.values()), "instead": dict(lost)}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), float(sys.argv[2]))))
