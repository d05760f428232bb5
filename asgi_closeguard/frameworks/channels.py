"""Django Channels behind the guard.

>>> from asgi_closeguard.frameworks.channels import guard
>>> application = guard(ProtocolTypeRouter({"websocket": URLRouter(websocket_urlpatterns)}))
... # doctest: +SKIP

Channels lets a consumer's exception escape to the server, so the guard sees it without any
hook: ``guard`` is ``CloseGuardMiddleware`` around the application, for the symmetry with the
other adapters and for the check that Channels is installed. A consumer that raises after
accept gets 1011 (or the mapped code), before accept an HTTP 500; ``DenyConnection`` stays a
403, and a consumer that closes gets its close, with the reason cut to 123 bytes.

Consumers of a channel layer keep a ``receive()`` in flight while a channel-layer message is
handled; when such a handler closes, the ``websocket.disconnect`` that answers the close reaches
that call, and the guard's record keeps the close that went out.

On daphne the guard falls back as it does for every app there (``docs/servers.md``): daphne
sends only 1000 and 3000-4999, and never the close reason.

Needs Channels: ``pip install channels``. Importing this module does not import it.
"""

from __future__ import annotations

from typing import Any

from .._middleware import CloseGuardMiddleware
from .._types import ASGIApp
from ._relay import require

__all__ = ["guard"]


def guard(application: ASGIApp, **options: Any) -> CloseGuardMiddleware:
    """Return ``application`` (a ``ProtocolTypeRouter``, a consumer's ``as_asgi()``, ...)
    behind ``CloseGuardMiddleware``.

    ``options`` are ``CloseGuardMiddleware``'s keyword options. Serve the returned app.
    """
    require("channels", "channels")
    return CloseGuardMiddleware(application, **options)
