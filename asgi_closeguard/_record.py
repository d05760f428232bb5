"""What ``on_close`` receives: one record per WebSocket connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CloseRecord", "ClosedBy"]

#: Who ended the connection:
#: ``"client"`` — the client's close (or its disconnect) reached the app first;
#: ``"app"`` — the app sent ``websocket.close`` or a denial response;
#: ``"guard"`` — the guard closed for the app: it raised, or returned without closing;
#: ``"server"`` — the server ended it: its send failed, it refused the close, or it cancelled
#: the app.
ClosedBy = Literal["client", "app", "guard", "server"]


@dataclass(frozen=True, slots=True)
class CloseRecord:
    """How one WebSocket connection ended, handed to ``on_close`` once the app has finished.

    Attributes:
        path: the request path from the ASGI scope.
        closed_by: who ended the connection (see :data:`ClosedBy`).
        code: the close code on the wire: the one sent to the client, or the one the server
            reported for the client's close (1005 for a close frame without a code). ``None``
            when the handshake was answered with HTTP instead (403, 500, a denial response), and
            when no close frame went out: the connection was already gone, or the server
            refused every close it was given (``closed_by`` is then ``"server"``).
        reason: the close reason that went with ``code``, ``""`` if none.
        requested_code: what the app asked to close with when the guard had to replace it
            (1005, 1006, a reserved number, ``None``-typed garbage...); ``None`` otherwise.
        exception: the type of the exception the app raised, if it raised; the instance is not
            kept, so the record holds no traceback and no frames alive.
        accepted: whether the WebSocket handshake was accepted. ``False`` for a refusal
            answered with a close (``refuse_with="close"``): the app never accepted, and the
            guard's own accept there only carries the refusal's close.
        http_status: the HTTP status that answered the handshake when it was not accepted
            (403 for a close before accept, 500 for a crash before accept, or the status of the
            app's own denial response); ``None`` once accepted, and for a refusal answered with
            a close (``refuse_with="close"``), since no HTTP response went out: ``code`` says
            the close that did.
        duration: seconds from the start of the app to the end of the connection.
        messages_sent: ``websocket.send`` messages the app sent through the guard.
        messages_received: ``websocket.receive`` messages the app received.
        route: the path template of the route that served the connection (``"/rooms/{room}"``)
            where the framework records the matched route in the scope, as Starlette and
            FastAPI do; ``None`` otherwise. Unlike ``path`` it has few distinct values, so it
            is safe as a metrics label.
    """

    path: str
    closed_by: ClosedBy
    code: int | None
    reason: str
    requested_code: object
    exception: type[BaseException] | None
    accepted: bool
    http_status: int | None
    duration: float
    messages_sent: int
    messages_received: int
    route: str | None = None
