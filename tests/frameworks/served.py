"""Apps as their frameworks' own commands serve them: ``litestar --app module:name run`` (with
``guard(app)``, and with the plugin) and ``quart --app module:name run`` (with the extension)."""

# No `from __future__ import annotations`: Litestar reads the handler's annotations at run time.
from litestar import Litestar, WebSocket, websocket
from quart import Quart
from quart import websocket as quart_websocket

from asgi_closeguard.frameworks.litestar import CloseGuardPlugin, guard
from asgi_closeguard.frameworks.quart import CloseGuard


@websocket("/crash")
async def crash(socket: WebSocket) -> None:
    """Accept, then raise: behind the guard, the client gets 1011."""
    await socket.accept()
    raise RuntimeError("crash")


guarded = guard(Litestar(route_handlers=[crash]))
with_plugin = Litestar(route_handlers=[crash], plugins=[CloseGuardPlugin()])

quart_app = Quart(__name__)
CloseGuard(quart_app)


@quart_app.websocket("/crash")
async def quart_crash() -> None:
    """Accept, then raise: behind the guard, the client gets 1011."""
    await quart_websocket.accept()
    raise RuntimeError("crash")
