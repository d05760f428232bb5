"""The app tests/edges/test_uvicorn_log.py serves on uvicorn: handlers whose client vanishes.

One app, every handler twice, side by side: ``/raw/<handler>`` runs the handler on its own,
``/guarded/<handler>`` behind ``CloseGuardMiddleware`` (defaults). ``?t=<token>`` names a run.

==========================  ============================================================
``stream``                  plain ASGI: accept, then send a text every few milliseconds,
                            never reading, until a send raises (the client left)
``fastapi/stream``          the same as a FastAPI endpoint (``websocket.send_text``)
``close-1006-before-accept``  plain ASGI: ``websocket.close`` with 1006 before accepting
==========================  ============================================================

The router outside both sides records, per token, what the handler's failing send raised and
what escaped the app (the exception the server itself then sees), and sets the token's event
in a ``finally``. The server logs an exception in the same step in which it leaves the app, so
by the time ``GET /report?t=<token>`` answers, everything the server logged for that
connection is in its output.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, WebSocket

from asgi_closeguard import CloseGuardMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: A streaming handler stops by itself after this long (its client never left: the test fails).
STREAM_LIMIT = 10.0
#: Between two sends: slow enough to cost nothing, fast enough to notice the client leaving.
STREAM_PAUSE = 0.005
#: How long ``GET /report`` waits for the run to end.
REPORT_WAIT = 12.0

_REPORTS: dict[str, dict[str, Any]] = {}
_FINISHED: dict[str, asyncio.Event] = {}


def _finished(token: str) -> asyncio.Event:
    return _FINISHED.setdefault(token, asyncio.Event())


def _token(scope: Scope) -> str:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query.get("t", [""])[-1]


async def _stream(send_text: Callable[[str], Awaitable[None]], report: dict[str, Any]) -> None:
    """Send until a send raises (recorded, then re-raised) or the time limit passes."""
    deadline = asyncio.get_running_loop().time() + STREAM_LIMIT
    while asyncio.get_running_loop().time() < deadline:
        try:
            await send_text(f"message {report['sends']}")
        except BaseException as exc:
            report["send_raised"] = type(exc).__qualname__
            raise
        report["sends"] += 1
        await asyncio.sleep(STREAM_PAUSE)


async def plain_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """A plain ASGI handler that streams and never reads."""
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})

    async def send_text(text: str) -> None:
        await send({"type": "websocket.send", "text": text})

    await _stream(send_text, _REPORTS[_token(scope)])


async def close_1006_before_accept(scope: Scope, receive: Receive, send: Send) -> None:
    """A plain ASGI handler that refuses the handshake with a close carrying 1006."""
    await receive()
    await send({"type": "websocket.close", "code": 1006})


fastapi_app = FastAPI()


@fastapi_app.websocket("/{side}/fastapi/stream")
async def fastapi_stream(websocket: WebSocket, side: str) -> None:
    """The streaming handler as FastAPI users write it."""
    await websocket.accept()
    await _stream(websocket.send_text, _REPORTS[_token(websocket.scope)])


#: ``(side, handler path) -> app``; the side's guard is built once, like a deployed app's.
HANDLERS: dict[tuple[str, str], Any] = {}
for _name, _handler in (
    ("stream", plain_stream),
    ("close-1006-before-accept", close_1006_before_accept),
    ("fastapi/stream", fastapi_app),
):
    HANDLERS["raw", _name] = _handler
    HANDLERS["guarded", _name] = CloseGuardMiddleware(_handler)


async def _websocket(scope: Scope, receive: Receive, send: Send) -> None:
    side, _, handler = scope["path"].lstrip("/").partition("/")
    token = _token(scope)
    report: dict[str, Any] = {"sends": 0, "send_raised": None, "escaped": None}
    _REPORTS[token] = report
    try:
        await HANDLERS[side, handler](scope, receive, send)
    except BaseException as exc:
        report["escaped"] = type(exc).__qualname__
        raise
    finally:
        _finished(token).set()


async def _http(scope: Scope, receive: Receive, send: Send) -> None:
    status, body = 404, b"{}"
    if scope["path"] == "/health":
        status, body = 200, b"{}"
    elif scope["path"] == "/report":
        token = _token(scope)
        try:
            await asyncio.wait_for(_finished(token).wait(), REPORT_WAIT)
            status, body = 200, json.dumps(_REPORTS.pop(token)).encode()
        except asyncio.TimeoutError:
            status, body = 504, json.dumps(_REPORTS.get(token)).encode()
        _FINISHED.pop(token, None)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI app uvicorn serves: ``tests.edges.vanish_app:app``."""
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        await _http(scope, receive, send)
    else:
        await _websocket(scope, receive, send)
