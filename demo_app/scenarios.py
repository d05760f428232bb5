"""The WebSocket scenarios: one set of handlers, served raw and behind the guard.

:func:`scenario_router` returns the same handler functions each time it is called; the app
mounts them twice, at ``/raw`` (no guard) and at ``/guarded`` (behind ``CloseGuardMiddleware``),
so any difference a client sees between the two comes from the guard alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

__all__ = [
    "ECHO_LIMIT",
    "EXCEPTION_CODES",
    "RESTART_CLOSES",
    "SCENARIOS",
    "Scenario",
    "UpstreamTimeoutError",
    "scenario_router",
]

#: Messages the echo handler answers before it closes by itself: a bound on a demo socket.
ECHO_LIMIT: Final = 100


class UpstreamTimeoutError(TimeoutError):
    """What the ``mapped`` scenario raises: a timeout, which the guard maps to 1013."""


#: The guarded mount's mapping: a timeout tells the client to try again later.
EXCEPTION_CODES: Final[Mapping[type[BaseException], int]] = {TimeoutError: 1013}


#: How the restart scenario closes its first connection, and every later one: a server
#: restarting, then a session that ended normally.
RESTART_CLOSES: Final[tuple[tuple[int, str], tuple[int, str]]] = (
    (1012, "restarting"),
    (1000, "session finished"),
)


@dataclass(frozen=True)
class Scenario:
    """One WebSocket scenario: its URL segment, whether it takes a close code and reason, and
    whether the page's client reconnects after a close, as a reconnecting client would."""

    key: str
    takes_close: bool = False
    reconnects: bool = False

    @property
    def path(self) -> str:
        """The scenario's path under a mount: ``/ws/<key>``."""
        return f"/ws/{self.key}"


#: Every scenario, in the order the playground shows them: the crash first, since it is the
#: one the demo exists for.
SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario("crash"),
    Scenario("return"),
    Scenario("mapped"),
    Scenario("restart", reconnects=True),
    Scenario("close", takes_close=True),
    Scenario("crash-before-accept"),
    Scenario("echo"),
)


async def echo(websocket: WebSocket) -> None:
    """Accept, send every text message back, and close with 1000 after :data:`ECHO_LIMIT`."""
    await websocket.accept()
    try:
        for _ in range(ECHO_LIMIT):
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        return  # the client closed: the usual end of an echo session
    await websocket.close(code=1000, reason="echo limit reached")


async def crash(websocket: WebSocket) -> None:
    """Accept, then raise: a handler with a bug."""
    await websocket.accept()
    raise RuntimeError("the crash scenario raised after accept")


async def crash_before_accept(websocket: WebSocket) -> None:
    """Raise before accepting: the handshake is answered with HTTP 500 either way."""
    raise RuntimeError("the crash-before-accept scenario raised before accept")


async def return_without_close(websocket: WebSocket) -> None:
    """Accept, then return without closing."""
    await websocket.accept()


async def close_with(websocket: WebSocket, code: int = 1000, reason: str = "") -> None:
    """Accept, then close with whatever code and reason the query string gives, forbidden
    codes (1005, 1006, 1015, 999, 70000...) included."""
    await websocket.accept()
    await websocket.close(code=code, reason=reason)


async def mapped(websocket: WebSocket) -> None:
    """Accept, then raise a :class:`TimeoutError`, which the guarded mount maps to 1013."""
    await websocket.accept()
    raise UpstreamTimeoutError("the upstream service did not answer in time")


async def restart(websocket: WebSocket, attempt: int = 1) -> None:
    """Accept and close: with 1012 on the client's first connection (the server is
    restarting), with 1000 on any later one (``?attempt=2``: the session ended normally)."""
    await websocket.accept()
    code, reason = RESTART_CLOSES[0] if attempt <= 1 else RESTART_CLOSES[1]
    await websocket.close(code=code, reason=reason)


_HANDLERS = {
    "echo": echo,
    "crash": crash,
    "crash-before-accept": crash_before_accept,
    "return": return_without_close,
    "close": close_with,
    "mapped": mapped,
    "restart": restart,
}


def scenario_router() -> APIRouter:
    """A router with every scenario at ``/ws/<key>``, routed to the shared handlers."""
    router = APIRouter()
    for scenario in SCENARIOS:
        router.add_api_websocket_route(scenario.path, _HANDLERS[scenario.key])
    return router
