"""Litestar: the plugin (served by ``litestar run``), and guard(app) for an app built elsewhere."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, WebSocket, websocket
from litestar.datastructures import State

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard.frameworks.litestar import CloseGuardPlugin, guard


def log_close(record: CloseRecord) -> None:
    print(record.code, record.route)


@websocket("/rooms/{room:str}")
async def room(socket: WebSocket[Any, Any, State], room: str) -> None:
    await socket.accept()
    await socket.send_text(room)


app = Litestar(
    route_handlers=[room],
    plugins=[CloseGuardPlugin(exception_codes={TimeoutError: 1013}, on_close=log_close)],
)
built_elsewhere: Litestar = guard(Litestar(route_handlers=[room]), reraise=False)
wrapped = CloseGuardMiddleware(Litestar(route_handlers=[room]))
