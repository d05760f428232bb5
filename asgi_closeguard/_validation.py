"""Building the guard: every option checked once, with an error that says what to write.

A wrong value is refused when ``CloseGuardMiddleware`` is built, never at the first request
(with ``app.add_middleware``, Starlette builds the guard at the app's first call, its lifespan
startup: ``uvicorn --lifespan on`` makes a mistake stop the server there).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._codes import why_not_sendable
from ._connection import plain_name
from ._frame import normalise_reason
from ._record import CloseRecord
from ._types import ASGIApp, Receive, Scope, Send

__all__ = [
    "ExceptionCodes",
    "OnClose",
    "asgi3_app",
    "validate_exception_codes",
    "validate_flag",
    "validate_on_close",
    "validate_seconds",
]

#: ``{ExceptionClass: code}`` or ``{ExceptionClass: (code, reason)}``.
ExceptionCodes = Mapping[type[BaseException], int | tuple[int, str]]
#: Called with each connection's :class:`CloseRecord`; may return an awaitable.
OnClose = Callable[[CloseRecord], Any]


def asgi3_app(app: object) -> ASGIApp:
    """The app to call with ``(scope, receive, send)``.

    An ASGI 2 app (a class, or a callable, that takes the scope alone and returns the callable
    that takes ``receive`` and ``send``) is served as uvicorn serves it: wrapped once, here. What
    is no ASGI app at all (``None``, an import string) is a ``TypeError``.
    """
    if isinstance(app, str):
        raise TypeError(
            f"app must be the ASGI application itself, not its import string {app!r}: "
            "import it first (from chat import app; CloseGuardMiddleware(app))"
        )
    if not callable(app):
        raise TypeError(
            "app must be an ASGI application, an async callable taking (scope, receive, send), "
            f"not {app!r}"
        )
    if _is_asgi2(app):
        return _served_as_asgi3(app)
    return app  # checked as far as Python can without calling it


def _is_asgi2(app: Callable[..., Any]) -> bool:
    # uvicorn's rule for classes: one with __await__ is ASGI 3 (its instances are the
    # awaitable), any other takes the scope alone. For other callables, the signature tells.
    if inspect.isclass(app):
        return not hasattr(app, "__await__")
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):  # a builtin without a signature: assume ASGI 3
        return False
    return _binds(signature, 1) and not _binds(signature, 3)


def _binds(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*([None] * count))
    except TypeError:
        return False
    return True


def _served_as_asgi3(app: Callable[[Scope], Any]) -> ASGIApp:
    async def asgi2_app(scope: Scope, receive: Receive, send: Send) -> None:
        instance = app(scope)
        await instance(receive, send)

    asgi2_app.__wrapped__ = app  # type: ignore[attr-defined]
    return asgi2_app


def _check_on_close(callback: object) -> None:
    if inspect.isclass(callback):
        raise TypeError(
            f"on_close={callback.__name__} is a class: pass an instance, "
            f"on_close={callback.__name__}()"
        )
    if not callable(callback):
        raise TypeError(
            "on_close must be a function that takes a CloseRecord, or a sequence of them, "
            f"not {callback!r}"
        )
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # a builtin without a signature: it is called as it is
        return
    if not _binds(signature, 1):
        raise TypeError(
            f"on_close={callback!r} cannot take the connection's CloseRecord: give it one "
            "parameter (def on_close(record): ...)"
        )


def validate_flag(option: str, value: object) -> bool:
    """``value`` when it is ``True`` or ``False``; anything else is a ``TypeError``."""
    if not isinstance(value, bool):
        raise TypeError(f"{option} must be True or False, not {value!r}")
    return value


def validate_seconds(option: str, value: object) -> float:
    """``value`` as seconds: a finite number, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ValueError(f"{option} must be a number of seconds, 0 or more, not {value!r}")
    return float(value)


def validate_on_close(on_close: object) -> tuple[OnClose, ...] | None:
    """``on_close`` as a tuple of callbacks (``None`` when there is none), each checked: a
    class, a non-callable or a callable that cannot take one record is a ``TypeError``."""
    if on_close is None:
        return None
    callbacks = (
        tuple(on_close)
        if isinstance(on_close, Sequence) and not isinstance(on_close, str | bytes)
        else (on_close,)
    )
    for callback in callbacks:
        _check_on_close(callback)
    return callbacks or None


def validate_exception_codes(
    exception_codes: ExceptionCodes | None,
) -> dict[type[BaseException], tuple[int, str]]:
    if exception_codes is None:
        return {}
    if not isinstance(exception_codes, Mapping):
        raise TypeError(
            "exception_codes must be a mapping such as {TimeoutError: 1013}, "
            f"not {type(exception_codes).__name__}"
        )
    closes: dict[type[BaseException], tuple[int, str]] = {}
    for exc_class, value in exception_codes.items():
        if not isinstance(exc_class, type) or not issubclass(exc_class, Exception):
            raise TypeError(
                f"exception_codes keys must be Exception subclasses, not {exc_class!r} "
                "(CancelledError, KeyboardInterrupt and SystemExit always propagate untouched)"
            )
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
            code, reason = value
        elif isinstance(value, tuple):
            raise TypeError(
                f"exception_codes[{exc_class.__name__}] must be a code or a (code, reason) "
                f"pair with a str reason, not {value!r}"
            )
        else:
            code, reason = value, None
        rule = why_not_sendable(code)
        if rule is not None:
            raise ValueError(
                f"exception_codes[{exc_class.__name__}] = {code!r} cannot be sent: {rule}. "
                "Use 1011 (internal error), another code from 1000-1003 or 1007-1014, "
                "or one from 3000-4999"
            )
        # The configured reason goes on the wire as it is sent: make it fit once, here.
        closes[exc_class] = (
            int(code),
            plain_name(code) if reason is None else normalise_reason(reason),
        )
    return closes
