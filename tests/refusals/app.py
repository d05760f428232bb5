"""The app the refusal tests serve: one Starlette app whose WebSockets refuse before accept.

The same three endpoints sit behind two guards, side by side:

* ``/close/...``: ``CloseGuardMiddleware(..., refuse_with="close")``;
* ``/http/...``: the default, ``refuse_with="http"``.

Both map ``Forbidden`` to 4403 "Forbidden" with ``exception_codes``. The endpoints, each of
which refuses before accepting, as a FastAPI or Starlette app checks a token or a room:

==========  ===================================================================
``login``   ``await websocket.close(4401, "login required")``
``crash``   ``raise Forbidden(...)`` (its text carries a secret)
``return``  return without accepting
==========  ===================================================================

HTTP: ``GET /`` serves a blank page (the browser's WebSockets are then same-origin),
``GET /health`` answers 200, ``GET /records`` the close records of both guards so far, as JSON.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._validation import ExceptionCodes

#: Carried by the exception the crash raises: it must never reach a client.
SECRET = "secret-room-key-hunter2"


class Forbidden(Exception):
    """What the crash raises before accept: the app's own "you may not enter"."""


EXCEPTION_CODES: ExceptionCodes = {Forbidden: (4403, "Forbidden")}

_RECORDS: list[dict[str, Any]] = []


def keep(record: CloseRecord) -> None:
    _RECORDS.append(
        {
            "path": record.path,
            "closed_by": record.closed_by,
            "code": record.code,
            "reason": record.reason,
            "accepted": record.accepted,
            "http_status": record.http_status,
            "exception": None if record.exception is None else record.exception.__name__,
            "messages_received": record.messages_received,
        }
    )


async def login_required(websocket: WebSocket) -> None:
    await websocket.close(code=4401, reason="login required")


async def crash(websocket: WebSocket) -> None:
    raise Forbidden(SECRET)


async def returns(websocket: WebSocket) -> None:
    return


endpoints = Starlette(
    routes=[
        WebSocketRoute("/login", login_required),
        WebSocketRoute("/crash", crash),
        WebSocketRoute("/return", returns),
    ]
)


async def page(request: Request) -> Response:
    return HTMLResponse("<!doctype html><html><head><title>refusals</title></head></html>")


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def records(request: Request) -> Response:
    return JSONResponse(_RECORDS)


app = Starlette(
    routes=[
        Route("/", page),
        Route("/health", health),
        Route("/records", records),
        Mount(
            "/close",
            CloseGuardMiddleware(
                endpoints, refuse_with="close", exception_codes=EXCEPTION_CODES, on_close=keep
            ),
        ),
        Mount(
            "/http", CloseGuardMiddleware(endpoints, exception_codes=EXCEPTION_CODES, on_close=keep)
        ),
    ]
)
