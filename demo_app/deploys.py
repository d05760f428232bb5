"""A deploy, as the demo plays it in one process: the raw side stops the way uvicorn stops, the
guarded side drains first.

A real deploy replaces an instance: the old process stops and a new one serves. The demo cannot
stop itself, so it plays each side's part:

- :class:`ServerStop` wraps the raw mount and does to its open WebSockets what uvicorn does to
  every open WebSocket when it gets ``SIGTERM``: its ``Server.shutdown`` calls ``shutdown()`` on
  every connection in one loop, and each sends a 1012 close frame without a reason. Every client
  gets 1012 in the same instant, and every client that reconnects does so at once.
- :class:`Redeployable` serves the guarded mount with one ``CloseGuardMiddleware`` and its own
  ``Drain``. A deploy drains it (each open connection gets 1012 at its own moment, spread over
  the spread), then puts a fresh guard with a fresh ``Drain`` in its place: that one stands for
  the new instance a real deploy starts, which accepts again.
- :class:`Deploys` plays both at once, one deploy at a time: what ``POST /api/deploy`` runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_closeguard import CloseGuardMiddleware, Drain

__all__ = [
    "SERVICE_RESTART",
    "DeployInProgressError",
    "DeployReport",
    "Deploys",
    "Redeployable",
    "ServerStop",
]

logger = logging.getLogger(__name__)

#: What uvicorn sends every open WebSocket when it stops: 1012 "Service Restart", no reason.
SERVICE_RESTART: Final[Message] = {"type": "websocket.close", "code": 1012, "reason": ""}

# A close the stop sends is bounded, as uvicorn's write to the socket never waits: a client
# that stopped reading must not hold back the closes of the others.
_CLOSE_BOUND: Final = 0.25


class ServerStop:
    """An ASGI wrapper that can close every open WebSocket of its app at once, as a stopping
    uvicorn does (see the module's docstring). The app hears of it as it would at a real stop:
    its pending ``receive()`` gets the client's answer to the 1012."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The server's ``send`` of every WebSocket open now, by connection.
        self._open: dict[object, Send] = {}

    @property
    def open_connections(self) -> int:
        """How many WebSockets are open now (accepted, not closed)."""
        return len(self._open)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        connection = object()

        async def watching_send(message: Message) -> None:
            await send(message)
            if message["type"] == "websocket.accept":
                self._open[connection] = send
            elif message["type"] == "websocket.close":
                self._open.pop(connection, None)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            self._open.pop(connection, None)

    async def close_every_connection(self) -> int:
        """Send 1012 to every open WebSocket, all at once; return how many were open."""
        sends = list(self._open.values())
        self._open.clear()
        async with anyio.create_task_group() as tasks:
            for send in sends:
                tasks.start_soon(_send_restart, send)
        return len(sends)


async def _send_restart(send: Send) -> None:
    with anyio.move_on_after(_CLOSE_BOUND):
        try:
            await send(SERVICE_RESTART)
        except Exception as exc:  # the connection ended in the meantime: nothing left to close
            logger.debug("could not send 1012: %r", exc)


class Redeployable:
    """The guarded mount across deploys: one guard with its own ``Drain`` serves it, until a
    deploy drains that guard and a fresh one takes its place.

    ``new_guard`` builds a guard around the mount's app with the ``Drain`` it is given. Each
    connection stays with the guard it arrived at, as it would stay with its process.
    """

    def __init__(self, new_guard: Callable[[Drain], CloseGuardMiddleware]) -> None:
        self._new_guard = new_guard
        self._drain = Drain()
        self._guard = new_guard(self._drain)
        #: Which instance serves now: 1 at start, one more after each deploy.
        self.instance = 1

    @property
    def guard(self) -> CloseGuardMiddleware:
        """The guard that serves new connections now."""
        return self._guard

    @property
    def drain(self) -> Drain:
        """The ``Drain`` of the guard that serves now."""
        return self._drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._guard(scope, receive, send)

    async def redeploy(self, spread: float) -> tuple[int, float]:
        """Drain the serving guard over ``spread`` seconds, then serve with a fresh one.
        Return how many connections were open when the drain began, and how long it took."""
        drain = self._drain
        open_at_start = drain.open_connections
        started = time.monotonic()
        # Shielded: a caller that gives up (a request whose client left) must not leave the
        # mount draining for good, turning every new WebSocket away. start() is bounded by
        # itself: the spread, plus the guard's close_timeout, plus a second.
        with anyio.CancelScope(shield=True):
            await drain.start(spread=spread)
            took = time.monotonic() - started
            # The drained instance would exit now, and the one a real deploy started beside it
            # take the traffic. A fresh guard with a fresh Drain stands for that new instance:
            # from here on the mount accepts again instead of closing new WebSockets with 1012.
            self._drain = Drain()
            self._guard = self._new_guard(self._drain)
            self.instance += 1
        return open_at_start, took


@dataclass(frozen=True)
class DeployReport:
    """What one deploy did, as ``POST /api/deploy`` answers it."""

    #: The seconds the guarded side's closes were spread over.
    spread: float
    #: Raw WebSockets closed with 1012, all in the same instant.
    raw_closed: int
    #: Guarded WebSockets open when the drain began, each closed with 1012 at its own moment.
    drained: int
    #: From the start of the drain until every drained connection had ended.
    drain_seconds: float
    #: The guarded instance that serves now (see :attr:`Redeployable.instance`).
    instance: int


class DeployInProgressError(RuntimeError):
    """A deploy was asked for while another one runs."""


class Deploys:
    """A deploy of both sides at once: the raw side stops as uvicorn does, the guarded side is
    drained and then served by a fresh guard. One at a time."""

    def __init__(self, raw: ServerStop, guarded: Redeployable) -> None:
        self.raw = raw
        self.guarded = guarded
        self.running = False

    async def deploy(self, spread: float) -> DeployReport:
        """Run a deploy; return once the guarded side's drain is over and a fresh guard serves.
        Raises :class:`DeployInProgressError` while another deploy runs."""
        if self.running:
            raise DeployInProgressError(
                "a deploy is running: the guarded side is draining. Ask again once it is over "
                "(the spread, plus a second or two)"
            )
        self.running = True  # before any await: two requests cannot both get past the check
        try:
            raw_closed = await self.raw.close_every_connection()
            drained, took = await self.guarded.redeploy(spread)
        finally:
            self.running = False
        return DeployReport(
            spread=spread,
            raw_closed=raw_closed,
            drained=drained,
            drain_seconds=round(took, 3),
            instance=self.guarded.instance,
        )
