"""The shutdown scenarios as FastAPI endpoints, written the way FastAPI's docs write them.

See :mod:`tests.shutdown.app` for what each scenario does and what it writes.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from tests.shutdown.app import STREAM_EVERY, watched, write


def build() -> FastAPI:
    """A fresh FastAPI app with the four scenario endpoints under ``/fastapi``."""
    api = FastAPI()

    @api.websocket("/fastapi/idle/{conn}")
    @api.websocket("/fastapi/sent/{conn}")
    async def read(websocket: WebSocket, conn: str) -> None:
        async with watched(conn):
            await websocket.accept()
            await websocket.send_text("ready")
            try:
                while True:
                    text = await websocket.receive_text()
                    write("saw", conn=conn, what=f"message {text!r}")
                    await websocket.send_text(text)
            except WebSocketDisconnect as exc:
                write("saw", conn=conn, what=f"WebSocketDisconnect {exc.code}")

    @api.websocket("/fastapi/stream/{conn}")
    async def stream(websocket: WebSocket, conn: str) -> None:
        async with watched(conn):
            await websocket.accept()
            await websocket.send_text("ready")
            try:
                while True:
                    await websocket.send_text("tick")
                    await asyncio.sleep(STREAM_EVERY)
            except WebSocketDisconnect as exc:
                write("saw", conn=conn, what=f"WebSocketDisconnect {exc.code}")

    @api.websocket("/fastapi/silent/{conn}")
    async def silent(websocket: WebSocket, conn: str) -> None:
        async with watched(conn):
            await websocket.accept()
            await websocket.send_text("ready")
            await asyncio.Event().wait()

    return api
