"""asgi-closeguard: WebSocket close codes made right, and the same, on every ASGI server.

>>> from asgi_closeguard import CloseGuardMiddleware
>>> app.add_middleware(CloseGuardMiddleware)  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from ._app_codes import AppCode
from ._codes import CloseCode, is_sendable
from ._drain import Drain
from ._errors import ForbiddenCloseCodeError, WebSocketClosedError
from ._middleware import CloseGuardMiddleware, RefuseWith
from ._options import GuardOptions
from ._record import ClosedBy, CloseRecord

if TYPE_CHECKING:
    from ._knowledge import (
        LANGUAGES,
        CodeComparison,
        CodeDescription,
        RangeDescription,
        compare,
        describe,
        describe_range,
    )

__version__ = "0.3.0"

# The close-code knowledge loads on first use: a server importing the middleware never pays
# for the texts, their records or the resource lookups behind LANGUAGES (PEP 562).
_KNOWLEDGE_NAMES = frozenset(
    {
        "LANGUAGES",
        "CodeComparison",
        "CodeDescription",
        "RangeDescription",
        "compare",
        "describe",
        "describe_range",
    }
)


def __getattr__(name: str) -> object:
    if name in _KNOWLEDGE_NAMES:
        from . import _knowledge

        return getattr(_knowledge, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "LANGUAGES",
    "AppCode",
    "CloseCode",
    "CloseGuardMiddleware",
    "CloseRecord",
    "ClosedBy",
    "CodeComparison",
    "CodeDescription",
    "Drain",
    "ForbiddenCloseCodeError",
    "GuardOptions",
    "RangeDescription",
    "RefuseWith",
    "WebSocketClosedError",
    "__version__",
    "compare",
    "describe",
    "describe_range",
    "is_sendable",
]
