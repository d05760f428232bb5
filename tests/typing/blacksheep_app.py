"""BlackSheep: serve what guard() returns."""

from __future__ import annotations

from blacksheep import Application, WebSocket

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard.frameworks.blacksheep import guard

app = Application()


@app.router.ws("/rooms/{room}")
async def room(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    await websocket.send_text(room)


asgi_app = guard(app, exception_codes={TimeoutError: 1013})
wrapped = CloseGuardMiddleware(Application())
