"""The framework matrix's app: every framework's scenarios, raw and behind its adapter, in one
ASGI app routed by path, so that one server process serves them all.

``/<framework>/<side>/<scenario>?t=<token>``: ``side`` is ``raw`` (the framework's app alone) or
``guarded`` (the app its adapter returns, with :data:`OPTIONS`). The router in front only picks
the app and rewrites ``path`` to ``/<scenario>``; the server's ``receive`` and ``send`` go
through untouched. ``GET /record?t=<token>`` answers the guarded connection's ``CloseRecord`` as
JSON (waiting up to :data:`RECORD_WAIT` seconds for it), ``GET /health`` answers 200.

Every framework has the same scenarios, written the way that framework's users write them:

=======================  ===================================================================
``crash``                accept, then raise ``RuntimeError`` (its text carries :data:`SECRET`)
``timeout``              accept, then raise ``TimeoutError`` (mapped to 1013 by the options)
``crash-before-accept``  raise ``RuntimeError`` before accepting
``return``               accept, then return (Channels: ``raise StopConsumer``)
``close-long``           accept, then close 4000 with a 200-byte reason (100 times "é")
``close-1006``           accept, then close 1006 'why' (a code that may not go on the wire)
``client-close``         accept, send "ready", then read until the client's close
``own``                  the framework's own exception (see :data:`OWN`)
``no-route``             a path with no route (:data:`NO_ROUTE_PATH`): the framework refuses it
=======================  ===================================================================

Channels is there twice: ``channels`` is an ``AsyncWebsocketConsumer`` on the in-memory channel
layer whose close comes from a channel-layer message, so a ``receive()`` is in flight when it
goes out; ``channels-sync`` a plain ``WebsocketConsumer`` without a layer.

``channels-reraise-false`` (in :data:`VARIANTS`) is ``channels`` with ``reraise=False``.

``/socket.io/`` serves a python-socketio app behind the plain guard (:func:`socketio_app`).
"""

# No `from __future__ import annotations`: FastAPI and BlackSheep read the handlers'
# annotations at run time, and the classes are imported inside the builders.
import asyncio
import contextlib
import contextvars
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from asgi_closeguard import CloseRecord
from tests.frameworks import django_setup

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]

#: Carried by every exception a scenario raises: it must never reach a client.
SECRET = "secret-api-key-hunter2"
#: 100 two-byte characters: a cut that ignores character boundaries shows.
LONG_REASON = "é" * 100
#: How long ``GET /record`` waits for the connection's record.
RECORD_WAIT = 5.0

#: What every guarded app is given: the options of ``CloseGuardMiddleware``.
OPTIONS: dict[str, Any] = {"exception_codes": {TimeoutError: 1013}}

#: Where scenario ``no-route`` goes: a path none of the apps has a route for.
NO_ROUTE_PATH = "/not/routed"

#: The framework's own exception, scenario ``own``.
OWN: dict[str, str] = {
    "fastapi": "Starlette's `WebSocketException(4003, 'forbidden')` after accept",
    "litestar": "`WebSocketException(detail='forbidden', code=4403)` after accept",
    "quart": "`abort(403)` after accept",
    "falcon": "`HTTPForbidden()` after accept",
    "blacksheep": "",
    "channels": "`DenyConnection` in `connect()`",
}

#: The route every guarded connection records: each framework's template for ``/{name}``.
ROUTES: dict[str, str] = {
    "fastapi": "/{name}",
    "litestar": "/{name}",
    "quart": "/<name>",
    "falcon": "/{name}",
    "blacksheep": "/{name}",
    "channels": "/<str:name>",
}

_token: contextvars.ContextVar[str] = contextvars.ContextVar("token", default="")
_RECORDS: dict[str, CloseRecord] = {}
_ARRIVED: dict[str, asyncio.Event] = {}


def _arrived(token: str) -> asyncio.Event:
    return _ARRIVED.setdefault(token, asyncio.Event())


def keep_record(record: CloseRecord) -> None:
    """``on_close`` of every guarded app: keep the record under the connection's token."""
    token = _token.get()
    _RECORDS[token] = record
    _arrived(token).set()


def record_json(record: CloseRecord | None) -> dict[str, Any] | None:
    """The parts of a record the matrix compares."""
    if record is None:
        return None
    return {
        "closed_by": record.closed_by,
        "code": record.code,
        "reason": record.reason,
        "exception": None if record.exception is None else record.exception.__name__,
        "http_status": record.http_status,
        "accepted": record.accepted,
        "route": record.route,
    }


def _options(options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The guard's options: the matrix's, or the ones an in-process test passes."""
    return {**OPTIONS, "on_close": keep_record} if options is None else options


def _raise(name: str) -> None:
    token = _token.get()
    if name in ("crash", "crash-before-accept"):
        raise RuntimeError(f"{SECRET} {name} {token}")
    raise TimeoutError(f"{SECRET} {name} {token}")


# --- FastAPI, the reference ---------------------------------------------------------------


def fastapi_app(guarded: bool, options: dict[str, Any] | None = None) -> ASGIApp:
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect
    from starlette.exceptions import WebSocketException

    from asgi_closeguard import CloseGuardMiddleware

    app = FastAPI()
    if guarded:
        app.add_middleware(CloseGuardMiddleware, **_options(options))

    @app.websocket("/{name}")
    async def scenario(websocket: WebSocket, name: str) -> None:
        if name == "crash-before-accept":
            _raise(name)
        await websocket.accept()
        if name in ("crash", "timeout"):
            _raise(name)
        elif name == "close-long":
            await websocket.close(4000, LONG_REASON)
        elif name == "close-1006":
            await websocket.close(1006, "why")
        elif name == "client-close":
            await websocket.send_text("ready")
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await websocket.receive_text()
        elif name == "own":
            raise WebSocketException(4003, "forbidden")

    return app


# --- Litestar -----------------------------------------------------------------------------


def litestar_app(
    guarded: bool, options: dict[str, Any] | None = None, *, plugin: bool = False
) -> ASGIApp:
    from litestar import Litestar, WebSocket, websocket
    from litestar.exceptions import WebSocketDisconnect, WebSocketException
    from litestar.logging.config import LoggingConfig

    from asgi_closeguard.frameworks.litestar import CloseGuardPlugin, guard

    @websocket("/{name:str}")
    async def scenario(socket: WebSocket) -> None:
        name = socket.path_params["name"]
        if name == "crash-before-accept":
            _raise(name)
        await socket.accept()
        if name in ("crash", "timeout"):
            _raise(name)
        elif name == "close-long":
            await socket.close(4000, LONG_REASON)
        elif name == "close-1006":
            await socket.close(1006, "why")
        elif name == "client-close":
            await socket.send_text("ready")
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await socket.receive_text()
        elif name == "own":
            raise WebSocketException(detail="forbidden", code=4403)

    # Litestar logs a handler's exception itself, once, with or without the guard.
    logging_config = LoggingConfig(log_exceptions="always", configure_root_logger=False)
    if plugin:
        return Litestar(
            route_handlers=[scenario],
            plugins=[CloseGuardPlugin(**_options(options))],
            logging_config=logging_config,
        )
    app = Litestar(route_handlers=[scenario], logging_config=logging_config)
    return guard(app, **_options(options)) if guarded else app


# --- Quart --------------------------------------------------------------------------------


def quart_app(
    guarded: bool, options: dict[str, Any] | None = None, *, extension: bool = False
) -> ASGIApp:
    from quart import Quart, abort, websocket

    from asgi_closeguard.frameworks.quart import CloseGuard, guard

    app = Quart(__name__)

    @app.websocket("/<name>")
    async def scenario(name: str) -> None:
        if name == "crash-before-accept":
            _raise(name)
        await websocket.accept()
        if name in ("crash", "timeout"):
            _raise(name)
        elif name == "close-long":
            await websocket.close(4000, LONG_REASON)
        elif name == "close-1006":
            await websocket.close(1006, "why")
        elif name == "client-close":
            await websocket.send("ready")
            while True:
                await websocket.receive()  # Quart cancels the handler when the client leaves
        elif name == "own":
            abort(403)

    if extension:
        CloseGuard(app, **_options(options))
        return app
    return guard(app, **_options(options)) if guarded else app


# --- Falcon -------------------------------------------------------------------------------


def falcon_app(guarded: bool, options: dict[str, Any] | None = None) -> ASGIApp:
    import falcon
    import falcon.asgi

    from asgi_closeguard.frameworks.falcon import guard

    class Scenario:
        async def on_websocket(self, req: Any, ws: Any, name: str) -> None:
            if name == "crash-before-accept":
                _raise(name)
            await ws.accept()
            if name in ("crash", "timeout"):
                _raise(name)
            elif name == "close-long":
                await ws.close(4000, LONG_REASON)
            elif name == "close-1006":
                await ws.close(1006, "why")  # Falcon raises ValueError: a reserved code
            elif name == "client-close":
                await ws.send_text("ready")
                with contextlib.suppress(falcon.WebSocketDisconnected):
                    while True:
                        await ws.receive_text()
            elif name == "own":
                raise falcon.HTTPForbidden()

    app = falcon.asgi.App()
    app.add_route("/{name}", Scenario())
    return guard(app, **_options(options)) if guarded else app


# --- BlackSheep ---------------------------------------------------------------------------


def blacksheep_app(guarded: bool, options: dict[str, Any] | None = None) -> ASGIApp:
    from blacksheep import Application, WebSocket, WebSocketDisconnectError
    from blacksheep.server.routing import Router

    from asgi_closeguard.frameworks.blacksheep import guard

    app = Application(router=Router())  # its own routes: the default router is shared

    @app.router.ws("/{name}")
    async def scenario(websocket: WebSocket, name: str) -> None:
        if name == "crash-before-accept":
            _raise(name)
        await websocket.accept()
        if name in ("crash", "timeout"):
            _raise(name)
        elif name == "close-long":
            await websocket.close(4000, LONG_REASON)
        elif name == "close-1006":
            await websocket.close(1006, "why")
        elif name == "client-close":
            await websocket.send_text("ready")
            with contextlib.suppress(WebSocketDisconnectError):
                while True:
                    await websocket.receive_text()

    return guard(app, **_options(options)) if guarded else app


# --- Django Channels ----------------------------------------------------------------------


def channels_app(
    guarded: bool, options: dict[str, Any] | None = None, *, sync: bool = False
) -> ASGIApp:
    django_setup.configure()
    from channels.exceptions import DenyConnection, StopConsumer
    from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    from asgi_closeguard.frameworks.channels import guard

    class AsyncScenario(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            name = self.scope["url_route"]["kwargs"]["name"]
            if name == "crash-before-accept":
                _raise(name)
            if name == "own":
                raise DenyConnection
            await self.accept()
            if name in ("crash", "timeout"):
                _raise(name)
            elif name == "return":
                raise StopConsumer
            elif name == "close-long":
                # Closed from a channel-layer message: the consumer's receive() is in flight.
                await self.channel_layer.send(self.channel_name, {"type": "close.long"})
            elif name == "close-1006":
                await self.close(1006, "why")
            elif name == "client-close":
                await self.send("ready")

        async def close_long(self, message: dict[str, Any]) -> None:
            await self.close(4000, LONG_REASON)

    class SyncScenario(WebsocketConsumer):  # type: ignore[misc]
        channel_layer_alias = "none"  # no layer: nothing reads ahead

        def connect(self) -> None:
            name = self.scope["url_route"]["kwargs"]["name"]
            if name == "crash-before-accept":
                _raise(name)
            if name == "own":
                raise DenyConnection
            self.accept()
            if name in ("crash", "timeout"):
                _raise(name)
            elif name == "return":
                raise StopConsumer
            elif name == "close-long":
                self.close(4000, LONG_REASON)
            elif name == "close-1006":
                self.close(1006, "why")
            elif name == "client-close":
                self.send("ready")

    consumer = SyncScenario if sync else AsyncScenario
    application = ProtocolTypeRouter(
        {"websocket": URLRouter([path("<str:name>", consumer.as_asgi())])}
    )
    return guard(application, **_options(options)) if guarded else application


# --- python-socketio: no adapter ------------------------------------------------------------


def socketio_app(options: dict[str, Any] | None = None) -> ASGIApp:
    """``socketio.ASGIApp`` behind the plain guard. Events: ``boom`` raises, ``ping`` answers."""
    import socketio

    from asgi_closeguard import CloseGuardMiddleware

    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.event
    async def boom(sid: str, token: str) -> None:
        raise RuntimeError(f"{SECRET} boom {token}")

    @sio.event
    async def ping(sid: str, data: object) -> str:
        return "pong"

    return CloseGuardMiddleware(socketio.ASGIApp(sio), **_options(options))


#: Every column of the matrix: its name and how to build its app, raw or guarded.
FRAMEWORKS: dict[str, Callable[..., ASGIApp]] = {
    "fastapi": fastapi_app,
    "litestar": litestar_app,
    "quart": quart_app,
    "falcon": falcon_app,
    "blacksheep": blacksheep_app,
    "channels": channels_app,
    "channels-sync": lambda guarded, options=None: channels_app(guarded, options, sync=True),
}

#: The idiomatic forms, behind the guard only: the plugin and the extension.
IDIOMS: dict[str, Callable[..., ASGIApp]] = {
    "litestar-plugin": lambda guarded, options=None: litestar_app(True, options, plugin=True),
    "quart-extension": lambda guarded, options=None: quart_app(True, options, extension=True),
}

#: Other options, behind the guard only, for what they change on one server: daphne refuses
#: the codes of an exception that the guard does not re-raise (``reraise=False``).
VARIANTS: dict[str, Callable[..., ASGIApp]] = {
    "channels-reraise-false": lambda guarded, options=None: channels_app(
        True, {**_options(options), "reraise": False}
    ),
}


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Router:
    """``/<framework>/<side>/<scenario>`` to the app of that framework and side."""

    def __init__(self) -> None:
        self.apps: dict[tuple[str, str], ASGIApp] = {}
        for name, build in FRAMEWORKS.items():
            self.apps[(name, "raw")] = build(False)
            self.apps[(name, "guarded")] = build(True)
        for name, build_idiom in {**IDIOMS, **VARIANTS}.items():
            self.apps[(name, "guarded")] = build_idiom(True)
        self.socketio = socketio_app()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                kind = event["type"].rsplit(".", 1)[-1]
                if kind == "startup":
                    # One handler on the root logger before any framework logs: BlackSheep's
                    # logging.exception() would add one at its first exception, and Quart, whose
                    # logger adds its own only when none is above it, would then print twice.
                    logging.basicConfig(format="%(levelname)s:%(name)s:%(message)s")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] == "http":
            await self._http(scope, send)
            return
        _token.set(_query(scope).get("t", ""))
        if scope["path"].startswith("/socket.io/"):
            await self.socketio(scope, receive, send)
            return
        _, framework, side, name = [*scope["path"].split("/", 3), "", "", ""][:4]
        app = self.apps.get((framework, side))
        if app is None:
            await send({"type": "websocket.close", "code": 4404})
            return
        path = NO_ROUTE_PATH if name == "no-route" else f"/{name}"
        inner = {**scope, "path": path, "raw_path": path.encode(), "root_path": ""}
        await app(inner, receive, send)

    async def _http(self, scope: Scope, send: Any) -> None:
        if scope["path"] == "/health":
            await _answer(send, 200, b"{}")
            return
        token = _query(scope).get("t", "")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(_arrived(token).wait(), RECORD_WAIT)
        _ARRIVED.pop(token, None)
        record = record_json(_RECORDS.pop(token, None))
        await _answer(send, 200 if record else 404, json.dumps(record).encode())


#: What every server of the matrix serves: ``tests.frameworks.apps:app``.
app = Router()
