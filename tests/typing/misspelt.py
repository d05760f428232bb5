"""Every way to pass the guard's options, each with one misspelt: ``mypy --strict`` must fail on
each line marked ``# misspelt`` and on no other."""

from __future__ import annotations

import falcon.asgi
from blacksheep import Application
from litestar import Litestar
from quart import Quart

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard.frameworks import (
    blacksheep,
    channels,
    litestar,
    quart,
)
from asgi_closeguard.frameworks import (
    falcon as falcon_adapter,
)


def on_close(record: object) -> None: ...


CloseGuardMiddleware(Quart(__name__), on_clos=on_close)  # misspelt
litestar.guard(Litestar(), on_clos=on_close)  # misspelt
litestar.CloseGuardPlugin(on_clos=on_close)  # misspelt
quart.guard(Quart(__name__), on_clos=on_close)  # misspelt
quart.CloseGuard(Quart(__name__), on_clos=on_close)  # misspelt
falcon_adapter.guard(falcon.asgi.App(), on_clos=on_close)  # misspelt
blacksheep.guard(Application(), on_clos=on_close)  # misspelt
channels.guard(Quart(__name__), exception_code={TimeoutError: 1013})  # misspelt
litestar.guard(Litestar(), close_timeout="soon")  # misspelt
