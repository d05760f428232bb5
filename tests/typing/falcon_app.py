"""Falcon: serve what guard() returns."""

from __future__ import annotations

import falcon.asgi

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard.frameworks.falcon import guard


class Room:
    async def on_websocket(
        self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket, room: str
    ) -> None:
        await ws.accept()
        await ws.send_text(room)


app = falcon.asgi.App()
app.add_route("/rooms/{room}", Room())
asgi_app: CloseGuardMiddleware = guard(app, exception_codes={TimeoutError: 1013}, on_close=[print])
wrapped = CloseGuardMiddleware(falcon.asgi.App())
