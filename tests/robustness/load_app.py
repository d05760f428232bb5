"""The app the load, fault and security tests serve: plain ASGI behind ``CloseGuardMiddleware``,
told by the client what to do, so the client knows which close to expect.

WebSocket ``<path>?mode=<mode>&at=<k>[&code=<code>]`` (any path): accept, echo the first ``k`` text
messages, then on message ``k``:

==========  ==================================================  ==============================
mode        what the handler does                               what the client must see
==========  ==================================================  ==============================
``crash``   raises ``LoadCrash`` (its text carries `SECRET`)    1011, never the secret
``return``  returns without closing                             1000
``close``   sends ``websocket.close`` with ``code``             that code
``echo``    keeps echoing until the client closes               1000 (the client's own)
``sink``    keeps reading until the client is gone, then        (the client vanished)
            tries one send; reports both under its path
``flood``   sends text until a send fails; reports the error    (the client vanished)
==========  ==================================================  ==============================

``/quiet`` takes the same query behind a guard built with ``reraise=False``: the guard logs the
crash instead of re-raising it. ``/raw`` runs the handler without any guard.

HTTP ``GET /`` answers 200 "ok" (the readiness probe); ``GET /report?path=<path>`` answers the
JSON a ``sink`` or ``flood`` handler and the guard's ``on_close`` stored under the connection's
path (404 until both are there). Lifespan is acknowledged.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final
from urllib.parse import parse_qs

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._types import Receive, Scope, Send

__all__ = ["SECRET", "app", "handler"]

#: Carried by every crash: it must never reach a client.
SECRET: Final = "load-secret-hunter2"

#: What ``sink`` / ``flood`` handlers and ``on_close`` saw, by the connection's path.
REPORTS: dict[str, dict[str, Any]] = {}


class LoadCrash(RuntimeError):
    """The crash a ``mode=crash`` handler raises."""


def _query(scope: Scope) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(scope["query_string"].decode()).items()}


async def handler(scope: Scope, receive: Receive, send: Send) -> None:
    """The unguarded app: WebSocket behaviour chosen by the query string."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] == "http":
        await _http(scope, send)
        return
    query = _query(scope)
    mode = query.get("mode", "echo")
    at = int(query.get("at", "0"))
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    if mode in ("sink", "flood"):
        await _until_the_client_is_gone(mode, scope["path"], receive, send)
        return
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
        await send({"type": "websocket.close", "code": int(query["code"]), "reason": ""})
    # mode == "return": the guard closes with 1000.


async def _until_the_client_is_gone(mode: str, key: str, receive: Receive, send: Send) -> None:
    report = REPORTS.setdefault(key, {})
    if mode == "sink":
        while (message := await receive())["type"] != "websocket.disconnect":
            pass
        report["disconnect"] = dict(message)
    try:
        # Bounded: a server that never notices the client left must not send forever.
        for index in range(100_000):
            await send({"type": "websocket.send", "text": f"{index:08d}" * 128})
            if mode == "sink":
                break
            # uvicorn's send() does not yield while its transport takes more data, and a write
            # to a reset socket is dropped without pausing it: a loop that awaits nothing else
            # would starve the server and never see the disconnect. Real handlers await input.
            await asyncio.sleep(0)
        report["send_error"] = None
    except Exception as exc:
        report["send_error"] = type(exc).__name__
        report["send_error_is_oserror"] = isinstance(exc, OSError)


def _store_record(record: CloseRecord) -> None:
    report = REPORTS.get(record.path)
    if report is not None:
        report["record"] = {
            "closed_by": record.closed_by,
            "code": record.code,
            "exception": None if record.exception is None else record.exception.__name__,
        }


async def _http(scope: Scope, send: Send) -> None:
    status, body = 200, b"ok"
    if scope["path"] == "/report":
        report = REPORTS.get(_query(scope).get("path", ""))
        if report is None or "record" not in report:
            status, body = 404, b"not yet"
        else:
            body = json.dumps(report).encode()
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


_loud = CloseGuardMiddleware(handler, on_close=_store_record)
_quiet = CloseGuardMiddleware(handler, on_close=_store_record, reraise=False)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """What the servers serve: ``tests.robustness.load_app:app``."""
    path = scope.get("path", "")
    if path.startswith("/raw"):
        await handler(scope, receive, send)  # no guard: what the load looks like without it
        return
    await (_quiet if path.startswith("/quiet") else _loud)(scope, receive, send)
