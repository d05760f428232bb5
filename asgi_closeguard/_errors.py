"""The exceptions the guard raises into the application."""

from __future__ import annotations

__all__ = ["ForbiddenCloseCodeError", "WebSocketClosedError"]


class ForbiddenCloseCodeError(ValueError):
    """The app asked to close with a code that may not go on the wire (strict mode only).

    Raised by ``send()`` before anything reaches the server, so the connection stays open and
    the app can close again with a code that is allowed.
    """

    def __init__(self, code: object, rule: str) -> None:
        self.code = code
        self.rule = rule
        super().__init__(
            f"cannot close the WebSocket with code {code!r}: {rule}. Close with 1000 for a "
            "normal closure, 1011 for a server error, or a 4000-4999 code of your own"
        )


class WebSocketClosedError(OSError):
    """``send()`` was called on a WebSocket that can no longer carry messages.

    The ASGI spec (2.4) asks servers to raise an ``OSError`` subclass for a send on a closed
    connection; servers raise different things, or nothing at all. The guard raises this one
    class whatever the server: after the app's or the guard's close went out, after the client's
    disconnect, or after the server's own send failed. Starlette turns an ``OSError`` from send
    into ``WebSocketDisconnect``.
    """
