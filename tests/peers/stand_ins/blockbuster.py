"""A do-nothing stand-in for ``blockbuster``, used only where the real one is not installed.

Starlette's ``tests/conftest.py`` up to 1.7 imports ``blockbuster`` (a detector of blocking
calls in the event loop, from Starlette's dev dependencies) unconditionally; later versions
import it only if it is there and otherwise run without it. This stand-in gives the older
conftest the later behaviour: the fixture runs, and detects nothing. It never shadows a real
install: :func:`tests.peers.runs.peer_environment` puts this directory on the path only when
``blockbuster`` cannot be imported.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class BlockBusterFunction:
    """One watched function: ``can_block_in`` allows blocking calls from a place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def can_block_in(self, *args: Any, **kwargs: Any) -> BlockBusterFunction:
        """Accepted and ignored."""
        return self


class BlockBuster:
    """Activates nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.functions: defaultdict[str, BlockBusterFunction] = defaultdict(BlockBusterFunction)

    def activate(self) -> None:
        """Nothing to activate."""

    def deactivate(self) -> None:
        """Nothing to deactivate."""
