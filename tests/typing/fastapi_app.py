"""FastAPI: the middleware itself, its options typed."""

from __future__ import annotations

from fastapi import FastAPI, WebSocket
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
