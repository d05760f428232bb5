"""The record's ``route``: the matched route's template with the templates of the mounts above it,
never a raw path value, for Starlette and FastAPI routers and for the frameworks' own templates.

The framework adapters' templates (Litestar, Quart, Falcon, BlackSheep, Channels) are tested
with their apps in ``tests/frameworks/test_routes.py``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from starlette.applications import Starlette
from starlette.routing import Host, Mount, Router, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._route import ROUTE_KEY, route_template
from asgi_closeguard._types import Receive, Scope, Send


async def _hello(websocket: StarletteWebSocket) -> None:
    await websocket.accept()
    await websocket.close()


async def _plain(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app that is no router: accepts and closes."""
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": 1000})


def _routes(path: str = "/rooms/{room}") -> list[Any]:
    return [WebSocketRoute(path, _hello)]


def _route_of(app: Any, path: str) -> str | None:
    """Connect to ``path`` (on the host chat.example.com) through the guard; the record's
    route."""
    records: list[CloseRecord] = []
    guarded = CloseGuardMiddleware(app, on_close=records.append)
    with TestClient(guarded) as client:
        try:
            with client.websocket_connect(f"ws://chat.example.com{path}") as websocket:
                websocket.receive()
        except WebSocketDisconnect:
            pass  # refused: no route
    (record,) = records
    return record.route


_SHARED = _routes()

#: (what the app looks like, its app, the path connected to, the route recorded)
STARLETTE_CASES: list[tuple[str, Any, str, str]] = [
    ("a route", Starlette(routes=_routes()), "/rooms/7", "/rooms/{room}"),
    (
        "a route under a mount",
        Starlette(routes=[Mount("/chat", routes=_routes())]),
        "/chat/rooms/7",
        "/chat/rooms/{room}",
    ),
    (
        "mounts with templates of their own, nested",
        Starlette(
            routes=[Mount("/org/{org}", routes=[Mount("/chat", routes=_routes("/{room:int}"))])]
        ),
        "/org/acme/chat/42",
        "/org/{org}/chat/{room:int}",
    ),
    (
        "a mounted Starlette app",
        Starlette(routes=[Mount("/chat", app=Starlette(routes=_routes()))]),
        "/chat/rooms/7",
        "/chat/rooms/{room}",
    ),
    (
        "a mounted app behind middleware of its own",
        Starlette(routes=[Mount("/chat", app=CloseGuardMiddleware(Starlette(routes=_routes())))]),
        "/chat/rooms/7",
        "/chat/rooms/{room}",
    ),
    (
        "the same route objects under two mounts",
        Starlette(routes=[Mount("/a", routes=_SHARED), Mount("/b", routes=_SHARED)]),
        "/b/rooms/7",
        "/b/rooms/{room}",
    ),
    (
        "a route and a mount that both match: the first one serves",
        Starlette(routes=[*_routes("/chat/rooms/{room}"), Mount("/chat", routes=_routes())]),
        "/chat/rooms/7",
        "/chat/rooms/{room}",
    ),
    (
        "a mount at the root, around a mount",
        Starlette(routes=[Mount("", routes=[Mount("/chat", routes=_routes())])]),
        "/chat/rooms/7",
        "/chat/rooms/{room}",
    ),
    (
        "a mount whose router finds no route: the mount is what matched",
        Starlette(routes=[Mount("/chat", routes=_routes("/lobby"))]),
        "/chat/rooms/7",
        "/chat",
    ),
    (
        "a host",
        Starlette(routes=[Host("{sub}.example.com", app=Router(routes=_routes()))]),
        "/rooms/7",
        "/rooms/{room}",
    ),
    (
        "a mount inside a host",
        Starlette(
            routes=[Host("{sub}.example.com", app=Router([Mount("/chat", routes=_routes())]))]
        ),
        "/chat/rooms/7",
        "/chat/rooms/{room}",
    ),
    (
        "a mounted app that is no router: the mount is the route",
        Starlette(routes=[Mount("/live/{channel}", app=_plain)]),
        "/live/news/anything",
        "/live/{channel}",
    ),
]


@pytest.mark.parametrize(
    ("app", "path", "route"),
    [case[1:] for case in STARLETTE_CASES],
    ids=[case[0] for case in STARLETTE_CASES],
)
def test_starlette_records_the_route_with_the_mounts_above_it(
    app: Any, path: str, route: str
) -> None:
    assert _route_of(app, path) == route


def test_fastapi_routers_and_mounted_apps() -> None:
    router = APIRouter(prefix="/rooms")

    @router.websocket("/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.close()

    chat = FastAPI()
    chat.include_router(router)
    app = FastAPI()
    app.mount("/chat", chat)
    app.include_router(router, prefix="/v1")
    assert _route_of(app, "/chat/rooms/7") == "/chat/rooms/{room}"
    assert _route_of(app, "/v1/rooms/7") == "/v1/rooms/{room}"


def test_a_root_path_is_not_part_of_the_route() -> None:
    # Served under /api (uvicorn --root-path /api): the path keeps it, Starlette routes what
    # follows it.
    app = Starlette(routes=[Mount("/chat", routes=_routes())])
    records: list[CloseRecord] = []
    guarded = CloseGuardMiddleware(app, on_close=records.append)
    with (
        TestClient(guarded, root_path="/api") as client,
        client.websocket_connect("/api/chat/rooms/7") as websocket,
    ):
        websocket.receive()
    assert [record.route for record in records] == ["/chat/rooms/{room}"]


def test_no_route_is_none() -> None:
    assert route_template({"type": "websocket", "path": "/x"}) is None
    assert route_template({"type": "websocket", "route": SimpleNamespace(path=None)}) is None


# --- The scope as each router leaves it -------------------------------------------------------


def _route(path: str) -> SimpleNamespace:
    return SimpleNamespace(path=path)


class _Mount:
    """A mount as route_template sees one: routes below it, a path and its regex."""

    def __init__(self, path: str, routes: list[Any]) -> None:
        import re

        self.path = path
        self.path_regex = re.compile("^" + re.escape(path) + "/(?P<path>.*)$")
        self._routes = routes

    @property
    def routes(self) -> list[Any]:
        return self._routes


def test_a_root_path_no_mount_explains_keeps_the_routes_own_template() -> None:
    scope = {
        "route": _route("/rooms/{room}"),
        "router": SimpleNamespace(routes=[_Mount("/chat", [_route("/other")])]),
        "path": "/chat/rooms/7",  # /chat matches the path, but did not take /lobby off it
        "root_path": "/lobby",
        "app_root_path": "",
    }
    assert route_template(scope) == "/rooms/{room}"


def test_a_cycle_of_mounts_ends() -> None:
    loop = _Mount("", [])
    loop._routes.append(loop)  # a mount that holds itself: the search stops at a bound depth
    scope: dict[str, Any] = {"route": _route("/rooms/{room}")}
    scope["router"] = SimpleNamespace(routes=[loop])
    scope.update(path="/x/rooms/7", root_path="/x", app_root_path="")
    assert route_template(scope) == "/rooms/{room}"


def test_middleware_without_routes_below_a_mount_ends() -> None:
    mount = _Mount("/chat", [])
    # Middleware around middleware around nothing with routes: no mount below /chat is found.
    mount.app = SimpleNamespace(routes=None, app=SimpleNamespace(app=None))  # type: ignore[attr-defined]
    scope: dict[str, Any] = {"route": _route("/rooms/{room}")}
    scope["router"] = SimpleNamespace(routes=[mount])
    scope.update(path="/chat/v2/rooms/7", root_path="/chat/v2", app_root_path="")
    assert route_template(scope) == "/rooms/{room}"
    # Middleware that is its own app: the search through wrappers stops at a bound depth.
    selfish = SimpleNamespace(routes=None)
    selfish.app = selfish
    mount.app = selfish  # type: ignore[attr-defined]
    assert route_template(scope) == "/rooms/{room}"


@pytest.mark.parametrize(
    ("scope", "route"),
    [
        ({ROUTE_KEY: "/<room>"}, "/<room>"),
        ({ROUTE_KEY: 7}, None),  # only text is a template
        ({"litestar_app": object(), "path_template": "/rooms/{room:int}"}, "/rooms/{room:int}"),
        ({"litestar_app": object(), "path_template": ""}, None),
        ({"path_template": "/rooms/{room}"}, None),  # not Litestar's: not read
        ({ROUTE_KEY: "/<room>", "route": _route("/rooms/{room}")}, "/<room>"),
    ],
    ids=[
        "an-adapters-template",
        "not-text",
        "litestars-template",
        "litestar-without-a-match",
        "not-litestars-key",
        "the-frameworks-own-beats-a-starlette-route",
    ],
)
def test_the_frameworks_own_templates(scope: dict[str, Any], route: str | None) -> None:
    assert route_template(scope) == route


def test_a_frameworks_template_under_a_starlette_mount_gets_the_mounts_template() -> None:
    mount = _Mount("/quart", [])
    scope = {
        ROUTE_KEY: "/rooms/<room>",
        "route": mount,
        "router": SimpleNamespace(routes=[mount]),
        "path": "/quart/rooms/7",
        "root_path": "/quart",
        "app_root_path": "",
    }
    assert route_template(scope) == "/quart/rooms/<room>"
