"""The adapters in process, through the in-memory server of ``tests/harness.py``: every row of
the matrix for every framework equals FastAPI's, and each adapter's edges.

The real servers are ``test_matrix.py``'s; here the same apps (``tests/frameworks/apps.py``) run
without sockets, fast, and under coverage.
"""

# No `from __future__ import annotations`: BlackSheep reads the handlers' annotations at run
# time, and the handlers here are defined inside the tests.
import asyncio
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from asgi_closeguard import CloseRecord, WebSocketClosedError
from asgi_closeguard._middleware import GUARD_SCOPE_KEY
from asgi_closeguard.frameworks import _relay
from tests.frameworks import apps
from tests.harness import CONNECT, Outcome, disconnect, run

pytestmark = pytest.mark.anyio

FRAMEWORKS = ("litestar", "quart", "falcon", "blacksheep", "channels")
COLUMNS = tuple(name for name in (*apps.FRAMEWORKS, *apps.IDIOMS) if name != "fastapi")
ROWS = ("crash", "timeout", "crash-before-accept", "return", "close-long", "close-1006")


def build(column: str, records: list[CloseRecord], *, guarded: bool = True) -> Any:
    options = {"exception_codes": {TimeoutError: 1013}, "on_close": records.append}
    builders = {**apps.FRAMEWORKS, **apps.IDIOMS}
    return builders[column](guarded, options)


async def connection(column: str, row: str, *client: dict[str, Any]) -> Outcome:
    records: list[CloseRecord] = []
    outcome = await run(build(column, records), *client, records=records, path=f"/{row}")
    assert len(outcome.records) == 1, outcome.records
    return outcome


def seen(outcome: Outcome) -> dict[str, Any]:
    """What the client got, what escaped to the server, and the record."""
    record = outcome.record
    return {
        "closes": [(message["code"], message.get("reason")) for message in outcome.server.closes()],
        "status": outcome.server.denial_status(),
        "escaped": type(outcome.exception).__name__ if outcome.exception else None,
        "record": (
            record.closed_by,
            record.code,
            record.reason,
            record.exception,
            record.accepted,
            record.http_status,
        ),
    }


#: Every (column, row) pair, but one: the in-memory server's client answers a close only when
#: asked after it, so the close that the async Channels consumer sends from a channel-layer
#: message, with its receive() already waiting, is never answered here. ``test_matrix.py`` runs
#: that row on uvicorn and daphne.
PAIRS = [
    (column, row)
    for column in COLUMNS
    for row in ROWS
    if (column, row) != ("channels", "close-long")
]


@pytest.mark.parametrize(("column", "row"), PAIRS)
async def test_every_row_is_fastapis(column: str, row: str) -> None:
    expected = seen(await connection("fastapi", row))
    found = seen(await connection(column, row))
    if not column.startswith("channels"):
        # The framework has reported the exception its own way (its log, its hooks): it ends
        # there, as it would without the guard, rather than escape to the server.
        expected["escaped"] = None
    if row == "return":
        # Quart and Falcon close with 1000 themselves (Falcon adds "Normal Closure").
        assert [code for code, _ in found["closes"]] == [1000]
        assert found["record"][1:2] + found["record"][3:] == (1000, None, True, None)
    elif (column, row) == ("falcon", "close-1006"):
        # Falcon refuses the code itself: ws.close() raises ValueError, the guard closes 1011.
        assert found["closes"] == [(1011, "Internal Error")]
        assert found["record"] == ("guard", 1011, "Internal Error", ValueError, True, None)
    else:
        assert found == expected
    assert not any(apps.SECRET in (reason or "") for _, reason in found["closes"])


@pytest.mark.parametrize("column", COLUMNS)
async def test_the_clients_close_is_recorded_with_its_code(column: str) -> None:
    outcome = await connection(column, "client-close", CONNECT, disconnect(4001, "bye"))
    record = outcome.record
    assert (record.closed_by, record.code, record.reason) == ("client", 4001, "bye")
    assert outcome.server.closes() == []
    if column.startswith("quart"):
        # Quart reads ahead in a task of its own, and this client closes at once, not after
        # "ready" as the matrix's does: the handler's send comes after the client's close, and
        # raises WebSocketClosedError, which the record names.
        assert record.exception in (None, WebSocketClosedError)
    else:
        assert record.exception is None
        assert outcome.exception is None


@pytest.mark.parametrize(
    ("column", "close"),
    [
        ("litestar", (4403, "forbidden")),
        ("litestar-plugin", (4403, "forbidden")),
        ("quart", (1000, "")),
        ("quart-extension", (1000, "")),
        ("falcon", (3403, "Forbidden")),
    ],
)
async def test_the_frameworks_own_exception_keeps_its_close(
    column: str, close: tuple[int, str | None]
) -> None:
    outcome = await connection(column, "own")
    assert [(m["code"], m.get("reason")) for m in outcome.server.closes()] == [close]
    assert (outcome.record.closed_by, outcome.record.exception) == ("app", None)


@pytest.mark.parametrize("column", ["channels", "channels-sync"])
async def test_channels_deny_connection_stays_a_403(column: str) -> None:
    outcome = await connection(column, "own")
    assert outcome.record.http_status == 403
    assert (outcome.record.closed_by, outcome.record.exception) == ("app", None)


# --- HTTP is untouched ------------------------------------------------------------------------


async def http_get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


async def test_litestar_http_errors_are_litestars() -> None:
    from litestar import Litestar, get

    from asgi_closeguard.frameworks.litestar import CloseGuardPlugin, guard

    @get("/boom")
    async def boom() -> None:
        raise RuntimeError(apps.SECRET)

    for app in (
        guard(Litestar(route_handlers=[boom])),
        Litestar(route_handlers=[boom], plugins=[CloseGuardPlugin()]),
    ):
        response = await http_get(app, "/boom")
        assert response.status_code == 500
        assert response.json()["status_code"] == 500


async def test_quart_http_errors_are_quarts() -> None:
    from quart import Quart, abort

    from asgi_closeguard.frameworks.quart import CloseGuard, guard

    def app_with_routes() -> Quart:
        app = Quart(__name__)

        @app.get("/boom")
        async def boom() -> str:
            raise RuntimeError(apps.SECRET)

        @app.get("/teapot")
        async def teapot() -> str:
            abort(418)

        return app

    extended = app_with_routes()
    CloseGuard().init_app(extended)
    for app in (guard(app_with_routes()), extended):
        assert (await http_get(app, "/boom")).status_code == 500
        assert (await http_get(app, "/teapot")).status_code == 418


async def test_falcon_http_errors_go_to_the_handler_registered_before() -> None:
    import falcon
    import falcon.asgi

    from asgi_closeguard.frameworks.falcon import guard

    class Boom:
        async def on_get(self, req: Any, resp: Any) -> None:
            raise RuntimeError(apps.SECRET)

    plain = falcon.asgi.App()
    plain.add_route("/boom", Boom())
    assert (await http_get(guard(plain), "/boom")).status_code == 500

    seen_by_app: list[Exception] = []

    async def teapot(req: Any, resp: Any, ex: Exception, params: Any) -> None:
        seen_by_app.append(ex)
        resp.status = 418

    custom = falcon.asgi.App()
    custom.add_route("/boom", Boom())
    custom.add_error_handler(Exception, teapot)
    guarded = guard(custom)
    assert guard(custom).app.app.app is custom  # a second guard() adds no second handler
    assert (await http_get(guarded, "/boom")).status_code == 418
    assert [type(ex) for ex in seen_by_app] == [RuntimeError]


async def test_blacksheep_http_is_blacksheeps() -> None:
    from blacksheep import Application, text
    from blacksheep.server.routing import Router

    from asgi_closeguard.frameworks.blacksheep import guard

    app = Application(router=Router())

    @app.router.get("/hello")
    async def hello() -> Any:
        return text("hello")

    response = await http_get(guard(app), "/hello")
    assert (response.status_code, response.text) == (200, "hello")


# --- Each adapter's edges ---------------------------------------------------------------------


async def test_litestar_client_errors_before_accept_stay_litestars_and_server_errors_do_not() -> (
    None
):
    from litestar import Litestar, WebSocket, websocket
    from litestar.exceptions import InternalServerException, NotAuthorizedException

    from asgi_closeguard.frameworks.litestar import guard

    @websocket("/denied")
    async def denied(socket: WebSocket) -> None:
        raise NotAuthorizedException("who are you")

    @websocket("/broken")
    async def broken(socket: WebSocket) -> None:
        raise InternalServerException(apps.SECRET)

    records: list[CloseRecord] = []
    app = guard(Litestar(route_handlers=[denied, broken]), on_close=records.append)
    refused = await run(app, path="/denied", records=records)
    assert (refused.record.closed_by, refused.record.http_status) == ("app", 403)
    records.clear()
    crashed = await run(app, path="/broken", records=records)
    assert crashed.server.denial_status() == 500
    assert crashed.record.exception is InternalServerException
    assert crashed.exception is None  # Litestar's to report: its log and hooks have run


async def test_quart_signal_outside_a_websocket_does_nothing() -> None:
    from quart import Quart

    from asgi_closeguard.frameworks.quart import _got_websocket_exception

    app = Quart(__name__)
    # Outside a WebSocket context the receiver does nothing: Quart goes on as it would.
    assert await _got_websocket_exception(app, exception=RuntimeError("x")) is None


async def test_blacksheep_after_start_and_the_clients_leaving() -> None:
    from blacksheep import Application, WebSocket
    from blacksheep.server.routing import Router

    from asgi_closeguard.frameworks.blacksheep import guard

    app = Application(router=Router())

    @app.router.ws("/listen")
    async def listen(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            await websocket.receive_text()  # raises WebSocketDisconnectError: BlackSheep's

    @app.router.get("/")
    async def home() -> None: ...

    await app.start()
    records: list[CloseRecord] = []
    guarded = guard(app, on_close=records.append)  # wraps at once: the app has started
    guard(app)  # and a second guard() wraps nothing twice
    handler = app.router.get_match_by_method_and_path("GET_WS", "/listen").handler
    assert handler.__wrapped__ is not None
    assert not hasattr(handler.__wrapped__, "_closeguard")
    outcome = await run(guarded, CONNECT, disconnect(4001, "bye"), records=records, path="/listen")
    assert (outcome.record.closed_by, outcome.record.code, outcome.record.exception) == (
        "client",
        4001,
        None,
    )
    assert outcome.exception is None


def _behind(relay: _relay.Relay, **extra: Any) -> dict[str, Any]:
    """A WebSocket scope as the guard around ``relay`` hands it on."""
    return {"type": "websocket", GUARD_SCOPE_KEY: SimpleNamespace(app=relay), **extra}


def test_mark_marks_only_behind_an_active_relay() -> None:
    error = RuntimeError("x")
    assert not _relay.relayed(None)
    _relay.mark(error, None)  # nothing: no scope
    unrelayed: dict[str, Any] = {}
    _relay.mark(error, unrelayed)
    assert unrelayed == {}
    relayed: dict[str, Any] = {_relay.RELAYED: True}
    _relay.mark(error, relayed)
    _relay.mark(RuntimeError("later"), relayed)  # the first one is the handler's
    assert relayed[_relay.PENDING] is error


def _answering(*messages: dict[str, Any]) -> Any:
    """A framework's app that marks an exception, then sends ``messages`` (its answer)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        error = RuntimeError("x")
        _relay.mark(error, scope)
        for message in messages:
            await send(message)

    return app


ACCEPT = {"type": "websocket.accept"}
CLOSE = {"type": "websocket.close", "code": 4500}
DENIAL = {"type": "websocket.http.response.start", "status": 500, "headers": []}


@pytest.mark.parametrize(
    ("answer", "extensions", "to_server"),
    [
        ((ACCEPT, CLOSE), {}, False),  # after accept: the guard closes
        ((CLOSE,), {"websocket.http.response": {}}, False),  # the guard answers 500
        ((DENIAL,), {"websocket.http.response": {}}, False),
        ((CLOSE,), {}, True),  # only the server can answer 500
    ],
    ids=["close-after-accept", "close-before-accept", "denial", "no-denial-response"],
)
async def test_the_frameworks_answer_to_a_marked_exception_hands_it_on(
    answer: tuple[dict[str, Any], ...], extensions: dict[str, Any], to_server: bool
) -> None:
    sent: list[dict[str, Any]] = []

    async def server_send(message: Any) -> None:
        sent.append(message)

    relay = _relay.Relay(_answering(*answer))
    scope = _behind(relay, extensions=extensions)
    with pytest.raises(RuntimeError, match="x") as raised:
        await relay(scope, None, server_send)  # type: ignore[arg-type]
    assert scope[_relay.HANDED] is raised.value
    assert (_relay.TO_SERVER in scope) is to_server
    assert _relay.PENDING not in scope
    assert sent == [m for m in answer if m is ACCEPT]  # the framework's answer never went out


async def test_a_relay_that_cannot_reach_the_server_leaves_the_frameworks_refusal() -> None:
    class InARoute(_relay.Relay):
        def reaches_server(self) -> bool:
            return False

    sent: list[dict[str, Any]] = []

    async def server_send(message: Any) -> None:
        sent.append(message)

    relay = InARoute(_answering(CLOSE))
    await relay(_behind(relay), None, server_send)  # type: ignore[arg-type]
    assert sent == [CLOSE]


class _Group(BaseException):
    """An exception group as Python 3.10 has none: what the relay reads is ``exceptions``."""

    def __init__(self, *exceptions: BaseException) -> None:
        super().__init__("group")
        self.exceptions = exceptions


@pytest.mark.parametrize(
    "raised",
    [
        _Group(asyncio.CancelledError(), _Group(_relay.Escape(RuntimeError("x")))),
        _Group(_relay.Escape(RuntimeError("x"))),
    ],
    ids=["nested-beside-a-cancellation", "alone"],
)
async def test_the_relay_finds_the_exception_inside_a_task_groups_exception(
    raised: BaseException,
) -> None:
    # Quart 0.23 runs the handler in an asyncio.TaskGroup: the carrier comes back in a group.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise raised

    relay = _relay.Relay(app)
    scope = _behind(relay)
    with pytest.raises(RuntimeError, match="x") as caught:
        await relay(scope, None, None)  # type: ignore[arg-type]
    assert scope[_relay.HANDED] is caught.value
    assert _relay.RELAYED not in scope


async def test_a_group_without_the_carrier_passes_through_the_relay() -> None:
    group = _Group(ValueError("y"))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise group

    relay = _relay.Relay(app)
    with pytest.raises(_Group):
        await relay(_behind(relay), None, None)  # type: ignore[arg-type]


async def test_the_relay_passes_http_lifespan_and_what_an_outer_relay_serves_through() -> None:
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["type"])
        assert scope.get(_relay.RELAYED) is scope.get("outer")
        _relay.mark(RuntimeError("x"), scope)

    relay = _relay.Relay(app)
    for kind in ("http", "lifespan"):
        await relay({"type": kind}, None, None)  # type: ignore[arg-type]
    # Another relay outside this one serves the connection: it hands the exception on.
    outer = _behind(relay, outer=True, **{_relay.RELAYED: True})
    await relay(outer, None, None)  # type: ignore[arg-type]
    assert isinstance(outer[_relay.PENDING], RuntimeError)
    assert calls == ["http", "lifespan", "websocket"]


# --- Options, imports ------------------------------------------------------------------------


@pytest.mark.parametrize("column", COLUMNS)
def test_options_are_the_guards_and_checked_by_it(column: str) -> None:
    builders = {**apps.FRAMEWORKS, **apps.IDIOMS}
    with pytest.raises(ValueError, match="cannot be sent"):
        builders[column](True, {"exception_codes": {TimeoutError: 1006}})
    with pytest.raises(TypeError):
        builders[column](True, {"close_after": 3})


@pytest.mark.parametrize(
    ("framework", "modules"),
    [
        ("litestar", ["litestar"]),
        ("quart", ["quart", "quart.signals"]),
        ("falcon", ["falcon"]),
        ("blacksheep", ["blacksheep"]),
        ("channels", ["channels"]),
    ],
)
def test_a_missing_framework_says_what_to_install(
    framework: str, modules: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    adapter = importlib.import_module(f"asgi_closeguard.frameworks.{framework}")
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=f"pip install {framework}"):
        adapter.guard(object())
    if framework == "litestar":
        with pytest.raises(ImportError, match="pip install litestar"):
            adapter.CloseGuardPlugin()
    if framework == "quart":
        with pytest.raises(ImportError, match="pip install quart"):
            adapter.CloseGuard(object())


def test_importing_the_package_or_an_adapter_imports_no_framework() -> None:
    check = (
        "import sys\n"
        "import asgi_closeguard, asgi_closeguard.frameworks\n"
        "from asgi_closeguard.frameworks import litestar, quart, falcon, blacksheep, channels\n"
        "found = [m for m in ('litestar', 'quart', 'falcon', 'blacksheep', 'channels', "
        "'django', 'starlette', 'fastapi') if m in sys.modules]\n"
        "assert not found, found\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)
