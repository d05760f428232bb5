"""asgi-closeguard: WebSocket close codes made right, and the same, on every ASGI server.

>>> from asgi_closeguard import CloseGuardMiddleware
>>> app.add_middleware(CloseGuardMiddleware)  # doctest: +SKIP
"""

from ._codes import CloseCode, is_sendable
from ._errors import ForbiddenCloseCodeError, WebSocketClosedError
from ._knowledge import (
    LANGUAGES,
    CodeComparison,
    CodeDescription,
    RangeDescription,
    compare,
    describe,
    describe_range,
)
from ._middleware import CloseGuardMiddleware
from ._record import ClosedBy, CloseRecord

__version__ = "0.1.0"

__all__ = [
    "LANGUAGES",
    "CloseCode",
    "CloseGuardMiddleware",
    "CloseRecord",
    "ClosedBy",
    "CodeComparison",
    "CodeDescription",
    "ForbiddenCloseCodeError",
    "RangeDescription",
    "WebSocketClosedError",
    "__version__",
    "compare",
    "describe",
    "describe_range",
    "is_sendable",
]
