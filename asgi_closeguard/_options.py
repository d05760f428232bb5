"""The guard's keyword options as one type, for everything that passes them on.

The framework adapters take ``**options: Unpack[GuardOptions]``: a type checker then checks
each option by name and type where the adapter is called (``guard(app, on_clos=...)`` fails
``mypy --strict``), and the options are written down once, here, rather than per adapter.
At run time the guard checks their values itself, when it is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from ._drain import Drain
from ._middleware import RefuseWith
from ._validation import ExceptionCodes, OnClose

__all__ = ["GuardOptions"]


class GuardOptions(TypedDict, total=False):
    """``CloseGuardMiddleware``'s keyword options; see its docstring for each one."""

    exception_codes: ExceptionCodes | None
    on_close: OnClose | Sequence[OnClose] | None
    strict: bool
    reraise: bool
    expose_exception_text: bool
    close_timeout: float
    drain: Drain | None
    refuse_with: RefuseWith
