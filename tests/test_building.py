"""Building the guard: every mistake refused when the guard is built, with what to write instead.

The contract's section "Building the guard", and the warnings that say where they come from.
Each row here was a traceback on every connection, or a failure of every request, before.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._types import Receive, Scope, Send
from asgi_closeguard.prometheus import CloseMetrics
from tests.harness import CONNECT, run, text


async def asgi3_app(scope: Scope, receive: Receive, send: Send) -> None:
    pass


class Metrics:
    def __call__(self, record: CloseRecord) -> None:
        pass


def two_parameters(record: CloseRecord, extra: object) -> None:
    pass


@pytest.mark.parametrize(
    ("app", "options", "message"),
    [
        (None, {}, r"app must be an ASGI application, an async callable taking \(scope, receive"),
        ("chat:app", {}, r"not its import string 'chat:app': import it first \(from chat import"),
        (42, {}, "app must be an ASGI application"),
        (asgi3_app, {"on_close": CloseMetrics}, r"on_close=CloseMetrics is a class: pass an "
         r"instance, on_close=CloseMetrics\(\)"),
        (asgi3_app, {"on_close": [print, Metrics]}, r"on_close=Metrics\(\)"),
        (asgi3_app, {"on_close": lambda: None}, r"cannot take the connection's CloseRecord: give "
         r"it one parameter"),
        (asgi3_app, {"on_close": two_parameters}, "cannot take the connection's CloseRecord"),
        (asgi3_app, {"on_close": "print"}, "on_close must be a function that takes a CloseRecord"),
        (asgi3_app, {"strict": "yes"}, "strict must be True or False"),
    ],
)  # fmt: skip
def test_a_mistake_is_a_type_error_that_says_what_to_write(
    app: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        CloseGuardMiddleware(app, **options)


@pytest.mark.parametrize(
    "on_close",
    [print, [].append, Metrics(), lambda record, extra=None: None, lambda *args: None],
    ids=["builtin", "bound builtin", "instance", "optional extra", "varargs"],
)
def test_callbacks_that_can_take_one_record_are_accepted(on_close: Any) -> None:
    assert CloseGuardMiddleware(asgi3_app, on_close=on_close).on_close == (on_close,)


class ClassicApp:
    """An ASGI 2 app: the class takes the scope, its instance takes receive and send."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        if self.scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"asgi2"})
            return
        await receive()
        await send({"type": "websocket.accept"})
        raise LookupError("no such room")


def classic_function(scope: Scope) -> Any:
    return ClassicApp(scope)


class AwaitableApp:
    """An ASGI 3 class: its instances, built with (scope, receive, send), are awaited."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send

    def __await__(self) -> Any:
        return self.send({"type": "websocket.close", "code": 4000}).__await__()


@pytest.mark.anyio
@pytest.mark.parametrize("app", [ClassicApp, classic_function], ids=["class", "function"])
async def test_an_asgi2_app_is_served_as_uvicorn_serves_it(app: Any) -> None:
    records: list[CloseRecord] = []
    guard = CloseGuardMiddleware(app, on_close=records.append)
    outcome = await run(guard, records=records)
    assert outcome.server.only_close() == (1011, "Internal Error")
    assert isinstance(outcome.exception, LookupError)
    assert records[0].exception is LookupError
    # HTTP too, where the guard passes the scope straight through (no lifespan: TestClient
    # without `with`).
    assert TestClient(guard).get("/").text == "asgi2"


@pytest.mark.anyio
async def test_an_asgi3_class_is_called_as_it_is() -> None:
    outcome = await run(CloseGuardMiddleware(AwaitableApp))
    assert outcome.server.denial_status() is None
    assert outcome.server.closes()[0]["code"] == 4000


def test_with_add_middleware_a_mistake_stops_the_lifespan_startup() -> None:
    # Starlette builds the middleware stack at the app's first call: the lifespan startup under
    # a server (uvicorn --lifespan on stops there), or TestClient's `with`.
    app = Starlette(middleware=[Middleware(CloseGuardMiddleware, on_close=CloseMetrics)])
    with pytest.raises(TypeError, match=r"on_close=CloseMetrics\(\)"), TestClient(app):
        pass


@pytest.mark.anyio
async def test_the_replaced_code_warning_names_the_path_and_the_route(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(code=1005)

    app = Starlette(routes=[WebSocketRoute("/rooms/{room}", endpoint)])
    with (
        caplog.at_level(logging.WARNING, logger="asgi_closeguard"),
        TestClient(CloseGuardMiddleware(app)) as client,
        client.websocket_connect("/rooms/7") as websocket,
    ):
        assert websocket.receive()["code"] == 1000
    (warning,) = caplog.records
    assert warning.getMessage().startswith(
        "close code 1005 replaced with 1000 on /rooms/7 (route /rooms/{room}): "
    )


@pytest.mark.anyio
async def test_a_reason_cut_to_fit_is_logged_at_debug_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def long_goodbye(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "x" * 200})

    with caplog.at_level(logging.DEBUG, logger="asgi_closeguard"):
        await run(CloseGuardMiddleware(long_goodbye), CONNECT, text("hi"))
    assert "close reason cut from 200 to 123 bytes" in caplog.text


@pytest.mark.server
def test_uvicorn_with_lifespan_on_stops_at_once_on_a_mistake(tmp_path: Any) -> None:
    import subprocess

    (tmp_path / "mistake.py").write_text(
        "from fastapi import FastAPI\n"
        "from asgi_closeguard import CloseGuardMiddleware\n"
        "from asgi_closeguard.prometheus import CloseMetrics\n"
        "app = FastAPI()\n"
        "app.add_middleware(CloseGuardMiddleware, on_close=CloseMetrics)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "mistake:app", "--lifespan", "on", "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "on_close=CloseMetrics()" in result.stderr
    assert "Application startup failed. Exiting." in result.stderr
