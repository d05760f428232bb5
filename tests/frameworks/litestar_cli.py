"""Litestar apps as ``litestar run`` finds them (``litestar --app module:name run``): guarded
with ``guard(app)``, and with the plugin."""

# No `from __future__ import annotations`: Litestar reads the handler's annotations at run time.
from litestar import Litestar, WebSocket, websocket

from asgi_closeguard.frameworks.litestar import CloseGuardPlugin, guard


@websocket("/crash")
async def crash(socket: WebSocket) -> None:
    """Accept, then raise: behind the guard, the client gets 1011."""
    await socket.accept()
    raise RuntimeError("crash")


guarded = guard(Litestar(route_handlers=[crash]))
with_plugin = Litestar(route_handlers=[crash], plugins=[CloseGuardPlugin()])
