"""Falcon: serve what guard() returns, with hypercorn too."""

from __future__ import annotations

import falcon.asgi
from hypercorn.asyncio import serve
from hypercorn.config import Config

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
asgi_app = guard(app, exception_codes={TimeoutError: 1013}, on_close=[print])
wrapped = CloseGuardMiddleware(falcon.asgi.App())


async def main() -> None:
    await serve(asgi_app, Config())
