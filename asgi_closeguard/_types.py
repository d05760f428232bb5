"""ASGI type aliases, written out here so the package depends on no framework."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
#: Any ASGI 3 application, as the guard takes it: three positional arguments, awaited. Each
#: framework types its scope, ``receive`` and ``send`` in its own words (Quart and Litestar as
#: TypedDicts, Falcon as ``dict``), which a stricter alias would refuse.
ASGIApp: TypeAlias = Callable[[Any, Any, Any], Awaitable[Any]]
