"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every `@pytest.mark.anyio` test under asyncio and under trio."""
    return str(request.param)
