"""The WebSocket scenarios: one set of handlers, served raw and behind the guard.

:func:`scenario_router` returns the same handler functions each time it is called; the app
mounts them at ``/raw`` (no guard), at ``/guarded`` (behind ``CloseGuardMiddleware``, in its
default mode, with a ``Drain``) and at ``/guarded-close`` (behind a guard that answers refusals
with a close, ``refuse_with="close"``), so any difference a client sees between them comes from
the guard alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

__all__ = [
    "ECHO_LIMIT",
    "EXCEPTION_CODES",
    "LOGIN_REFUSAL",
    "MOUNTS",
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


#: How the login-required scenario refuses a client before accept: the demo's own 4401 (declared
#: in :data:`demo_app.codes.APP_CODES`, ``reconnect="no"``) and its reason.
LOGIN_REFUSAL: Final[tuple[int, str]] = (4401, "login required")

#: Where the app mounts the scenarios: raw, behind the default guard, behind a guard that
#: answers refusals before accept with a close.
MOUNTS: Final[tuple[str, ...]] = ("raw", "guarded", "guarded-close")


@dataclass(frozen=True)
class Scenario:
    """One WebSocket scenario: its URL segment, whether it takes a close code and reason,
    whether the page's client reconnects after a close, as a reconnecting client would (and
    for how many connections at most), whether its card plays a deploy, and the mounts its card
    runs it on."""

    key: str
    takes_close: bool = False
    reconnects: bool = False
    #: The page's bound on a reconnecting client: it gives up after this many connections.
    max_connections: int = 5
    #: The card opens several clients per side and deploys (``POST /api/deploy``) under them.
    deploy: bool = False
    mounts: tuple[str, ...] = ("raw", "guarded")

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
    Scenario("deploy", deploy=True),
    Scenario("close", takes_close=True),
    Scenario("crash-before-accept"),
    # Three connections are enough to show a client knocking again and again at a refusal it
    # cannot read (1006), and short enough for the card: connect()'s backoff doubles each time.
    Scenario("login-required", reconnects=True, max_connections=3, mounts=MOUNTS),
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


async def login_required(websocket: WebSocket) -> None:
    """Refuse before accept, as an app that finds no signed-in user does: close with the demo's
    4401 "login required". Before accept a server can only answer the handshake with HTTP 403,
    which a browser reports as 1006, unless the guard answers refusals with a close
    (``refuse_with="close"``): then the page reads 4401 and the reason."""
    code, reason = LOGIN_REFUSAL
    await websocket.close(code=code, reason=reason)


_HANDLERS = {
    "echo": echo,
    # A deploy needs nothing of its own from the handler: a chat-like session that stays open,
    # answering each message, until its client leaves or the server closes it. The echo is one.
    "deploy": echo,
    "login-required": login_required,
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
