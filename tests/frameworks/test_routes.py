"""The record's ``route`` behind each adapter: the framework's own template, with the prefixes
of its routers, blueprints and nested URL routers, never the raw path. In process, through the
in-memory server of ``tests/harness.py``; the matrix on real servers records the same.
"""

# No `from __future__ import annotations`: Litestar and BlackSheep read the handlers'
# annotations at run time, and the handlers here are defined inside the tests.
from typing import Any

import pytest

from asgi_closeguard import CloseRecord
from tests.frameworks import apps, django_setup
from tests.harness import run

pytestmark = pytest.mark.anyio


def _with(app: Any, **scope: Any) -> Any:
    """``app``, called with ``scope``'s keys set in the scope the server hands it."""

    async def with_scope(server_scope: Any, receive: Any, send: Any) -> None:
        await app({**server_scope, **scope}, receive, send)

    return with_scope


def _litestar(records: list[CloseRecord]) -> Any:
    from litestar import Litestar, Router, WebSocket, websocket

    from asgi_closeguard.frameworks.litestar import CloseGuardPlugin

    @websocket("/rooms/{room:int}")
    async def room(socket: WebSocket) -> None:
        await socket.accept()

    chat = Router(path="/chat", route_handlers=[room])
    return Litestar(route_handlers=[chat], plugins=[CloseGuardPlugin(on_close=records.append)])


def _quart(records: list[CloseRecord]) -> Any:
    from quart import Blueprint, Quart, websocket

    from asgi_closeguard.frameworks.quart import CloseGuard

    chat = Blueprint("chat", __name__, url_prefix="/chat")

    @chat.websocket("/rooms/<int:room>")
    async def room(room: int) -> None:
        await websocket.accept()

    app = Quart(__name__)
    app.register_blueprint(chat)
    CloseGuard(app, on_close=records.append)
    return app


def _falcon(records: list[CloseRecord]) -> Any:
    import falcon.asgi

    from asgi_closeguard.frameworks.falcon import guard

    class Room:
        async def on_websocket(self, req: Any, ws: Any, room: int) -> None:
            await ws.accept()

    app = falcon.asgi.App()
    app.add_route("/chat/rooms/{room:int}", Room())
    return guard(app, on_close=records.append)


async def _blacksheep(records: list[CloseRecord]) -> Any:
    from blacksheep import Application, WebSocket
    from blacksheep.server.routing import Router

    from asgi_closeguard.frameworks.blacksheep import guard

    app = Application(router=Router())

    @app.router.ws("/chat/rooms/{int:room}")
    async def room(websocket: WebSocket, room: int) -> None:
        await websocket.accept()

    guarded = guard(app, on_close=records.append)
    await app.start()
    return guarded


def _channels(records: list[CloseRecord]) -> Any:
    django_setup.configure()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from channels.sessions import CookieMiddleware
    from django.urls import path, re_path

    from asgi_closeguard.frameworks.channels import guard

    class Room(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()
            await self.close()

    rooms = URLRouter([path("rooms/<int:room>/", Room.as_asgi())])
    websocket_urlpatterns = [
        path("chat/", rooms),  # matches chat/lobby/… too, but nothing below it does
        re_path(r"^chat/lobby/(?P<seat>\d+)/$", Room.as_asgi()),
    ]
    application = ProtocolTypeRouter(
        {
            "websocket": AllowedHostsOriginValidator(
                CookieMiddleware(URLRouter(websocket_urlpatterns))
            )
        }
    )
    return guard(application, on_close=records.append)


CASES = [
    ("litestar", _litestar, "/chat/rooms/42", "/chat/rooms/{room}"),
    ("quart", _quart, "/chat/rooms/42", "/chat/rooms/<int:room>"),
    ("falcon", _falcon, "/chat/rooms/42", "/chat/rooms/{room:int}"),
    ("blacksheep", _blacksheep, "/chat/rooms/42", "/chat/rooms/{int:room}"),
    ("channels", _channels, "/chat/rooms/42/", "/chat/rooms/<int:room>/"),
    ("channels-re_path", _channels, "/chat/lobby/42/", "/chat/lobby/(?P<seat>\\d+)/"),
]


@pytest.mark.parametrize(
    ("build", "path", "route"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
async def test_the_route_is_the_frameworks_own_template(build: Any, path: str, route: str) -> None:
    records: list[CloseRecord] = []
    app = build(records)
    if hasattr(app, "__await__"):
        app = await app
    # Channels' AllowedHostsOriginValidator wants an origin among ALLOWED_HOSTS.
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    outcome = await run(_with(app, headers=headers), path=path, records=records)
    assert outcome.record.route == route
    assert "42" not in route


async def test_channels_routes_under_a_root_path_and_without_a_match() -> None:
    records: list[CloseRecord] = []
    app = _channels(records)
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    served = _with(app, root_path="/prefix", headers=headers)
    outcome = await run(served, path="/prefix/chat/rooms/7/", records=records)
    assert outcome.record.route == "/chat/rooms/<int:room>/"
    records.clear()
    unrouted = await run(_with(app, headers=headers), path="/nowhere/", records=records)
    assert unrouted.record.route is None  # Channels raises ValueError: no route
    assert type(unrouted.exception) is ValueError


async def test_channels_without_a_url_router_has_no_route() -> None:
    django_setup.configure()
    from channels.generic.websocket import AsyncWebsocketConsumer

    from asgi_closeguard.frameworks.channels import guard

    class Echo(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()
            await self.close()

    records: list[CloseRecord] = []
    outcome = await run(guard(Echo.as_asgi(), on_close=records.append), records=records)
    assert outcome.record.route is None


@pytest.mark.parametrize("column", [*apps.FRAMEWORKS, *apps.IDIOMS])
async def test_every_column_of_the_matrix_records_a_route(column: str) -> None:
    records: list[CloseRecord] = []
    app = {**apps.FRAMEWORKS, **apps.IDIOMS}[column](True, {"on_close": records.append})
    if column == "blacksheep":
        await app.app.app.app.start()
    outcome = await run(app, path="/return", records=records)
    assert outcome.record.route == apps.ROUTES[column.split("-", 1)[0]]


async def test_channels_route_search_edges() -> None:
    from asgi_closeguard.frameworks import channels as adapter

    passed: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope["type"])

    await adapter._Routes(app)({"type": "http"}, None, None)  # type: ignore[arg-type]
    assert passed == ["http"]
    selfish = type("Middleware", (), {})()
    selfish.inner = selfish  # type: ignore[attr-defined]
    assert adapter._router_in(selfish) is None  # a cycle of middleware ends
    router = _channels([]).app.application.application_mapping["websocket"].application.inner
    assert adapter._match(router, "chat/rooms/7/", 0) is None  # no deeper than the bound


async def test_no_route_matched() -> None:
    from litestar import Litestar

    from asgi_closeguard.frameworks.litestar import CloseGuardPlugin, _after_exception

    records: list[CloseRecord] = []
    quart = apps.quart_app(True, {"on_close": records.append})
    outcome = await run(quart, path="/not/routed", records=records)
    assert (outcome.record.route, outcome.record.http_status) == (None, 404)
    # Two plugins: the hook once; the outer guard serves.
    app = Litestar(plugins=[CloseGuardPlugin(), CloseGuardPlugin()])
    assert app.after_exception.count(_after_exception) == 1
