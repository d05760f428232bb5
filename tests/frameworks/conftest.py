"""The frameworks run on asyncio only (Quart, Falcon, BlackSheep and Channels need it)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Every `@pytest.mark.anyio` test here runs under asyncio."""
    return "asyncio"
