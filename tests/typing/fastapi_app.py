"""FastAPI: the middleware itself, its options typed."""

from __future__ import annotations

from fastapi import FastAPI, WebSocket
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette

from asgi_closeguard import CloseGuardMiddleware, CloseRecord


def log_close(record: CloseRecord) -> None:
    print(record.code, record.route)


app = FastAPI()
app.add_middleware(CloseGuardMiddleware, exception_codes={TimeoutError: 1013}, on_close=log_close)


@app.websocket("/rooms/{room}")
async def room(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    await websocket.send_text(room)


starlette_app = CloseGuardMiddleware(Starlette(), strict=True, close_timeout=0.5)


async def serve_with_hypercorn() -> None:
    # hypercorn's serve() types the app with its own TypedDicts, which FastAPI's own __call__
    # does not match; the guard's fits, so a guarded FastAPI app is served without a cast.
    await serve(CloseGuardMiddleware(app), Config())
