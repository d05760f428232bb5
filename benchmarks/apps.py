"""The apps the end-to-end benchmark serves: the same echo app, bare and guarded.

``uvicorn benchmarks.apps:bare`` and ``uvicorn benchmarks.apps:guarded`` (from the repository
root) serve them by hand.
"""

from __future__ import annotations

from asgi_closeguard import CloseGuardMiddleware

from ._common import echo_app

#: The echo app on its own.
bare = echo_app
#: The echo app behind the guard with default options.
guarded = CloseGuardMiddleware(echo_app)
