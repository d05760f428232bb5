"""The app the load test serves: plain ASGI behind ``CloseGuardMiddleware``, told by the client
what to do, so the client knows which close to expect.

WebSocket ``/ws?mode=<mode>&at=<k>[&code=<code>]``: accept, echo the first ``k`` text messages,
then on message ``k``:

=========  ======================================================  =========================
mode       what the handler does                                   what the client must see
=========  ======================================================  =========================
``crash``  raises ``RuntimeError`` (its text carries :data:`SECRET`)  1011, never the secret
``return`` returns without closing                                  1000
``close``  sends ``websocket.close`` with ``code``                  that code
``echo``   keeps echoing until the client closes                    1000 (the client's own)
=========  ======================================================  =========================

HTTP ``GET /`` answers 200 "ok" (the readiness probe). Lifespan is acknowledged.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard._types import Receive, Scope, Send

__all__ = ["SECRET", "app", "handler"]

#: Carried by every crash: it must never reach a client.
SECRET: Final = "load-secret-hunter2"


class LoadCrash(RuntimeError):
    """The crash a ``mode=crash`` handler raises."""


async def handler(scope: Scope, receive: Receive, send: Send) -> None:
    """The unguarded app: WebSocket behaviour chosen by the query string."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    query = parse_qs(scope.get("query_string", b"").decode())
    mode = query.get("mode", ["echo"])[0]
    at = int(query.get("at", ["0"])[0])
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if mode != "echo" and seen == at:
            break
        seen += 1
        await send({"type": "websocket.send", "text": message.get("text") or ""})
    if mode == "crash":
        raise LoadCrash(f"handler crashed at message {at}: {SECRET}")
    if mode == "close":
        await send({"type": "websocket.close", "code": int(query["code"][0]), "reason": ""})
    # mode == "return": the guard closes with 1000.


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


#: What the servers serve: ``tests.robustness.load_app:app``.
app = CloseGuardMiddleware(handler)
