"""A FastAPI app behind the guard, served by real uvicorn processes in tests/test_uvicorn.py."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, WebSocket

from asgi_closeguard import CloseGuardMiddleware

app = FastAPI()
app.add_middleware(CloseGuardMiddleware, exception_codes={TimeoutError: 1013})

#: What the `/listen` handler's receive() returned, for the test to read over HTTP.
seen: list[dict[str, Any]] = []


@app.get("/seen")
async def get_seen() -> list[dict[str, Any]]:
    return seen


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        await websocket.send_text(await websocket.receive_text())


@app.websocket("/crash")
async def crash(websocket: WebSocket, tag: str = "") -> None:
    await websocket.accept()
    raise RuntimeError(f"secret: do not show the client {tag}")


@app.websocket("/crash-before-accept")
async def crash_before_accept(websocket: WebSocket) -> None:
    raise RuntimeError("secret: do not show the client")


@app.websocket("/mapped")
async def mapped(websocket: WebSocket) -> None:
    await websocket.accept()
    raise TimeoutError("upstream timed out")


@app.websocket("/return")
async def return_(websocket: WebSocket) -> None:
    await websocket.accept()


@app.websocket("/close")
async def close(websocket: WebSocket, code: str = "none", reason: str = "") -> None:
    await websocket.accept()
    await websocket.close(code=None if code == "none" else int(code), reason=reason)  # type: ignore[arg-type]


@app.websocket("/listen")
async def listen(websocket: WebSocket) -> None:
    await websocket.accept()
    seen.append(dict(await websocket.receive()))
