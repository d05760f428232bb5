"""What each framework's own test client, and its own log, show for a handler that raises:
without the guard and behind the setup ``docs/frameworks.md`` leads with. ``TEST_CLIENTS`` is
what the page says; ``test_clients.py`` observes it again and compares.
"""

# No `from __future__ import annotations`: the frameworks read handlers' annotations at run time.
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any

import pytest

from tests.frameworks import apps


@dataclass(frozen=True)
class TestClientRow:
    """One framework's test client: what a crash shows, raw and guarded, and what changes."""

    __test__ = False  # not a pytest test class

    client: str  # the test client, as the framework's docs name it
    after_accept: tuple[str, str]  # (without the guard, behind it)
    before_accept: tuple[str, str]
    log: tuple[str, str]  # the framework's own log line for the exception, as the page says
    change: str  # the one line a test changes


SAME_LOG = "the same, once; the server's: none"

TEST_CLIENTS: dict[str, TestClientRow] = {
    "litestar": TestClientRow(
        client="`litestar.testing.TestClient`",
        after_accept=("`WebSocketDisconnect`, code 4500", "`WebSocketDisconnect`, code 1011"),
        before_accept=("`WebSocketDisconnect`, code 4500", "`WebSocketDisconnect`, code 4500"),
        log=("its exception log, as its logging config says", SAME_LOG),
        change="`assert raised.value.code == 4500` becomes `== 1011`",
    ),
    "quart": TestClientRow(
        client="`app.test_client()`",
        after_accept=(
            "`WebsocketDisconnectError`, code 1000",
            "`WebsocketDisconnectError`, code 1011",
        ),
        before_accept=("`WebsocketResponseError`, 500", "`WebsocketResponseError`, 500"),
        log=('"Exception on websocket"', SAME_LOG),
        change="only a check of the code: `raised.value.args[0] == 1000` becomes `== 1011`",
    ),
    "falcon": TestClientRow(
        client="`falcon.testing.ASGIConductor`",
        after_accept=("`WebSocketDisconnected`, code 1011", "`WebSocketDisconnected`, code 1011"),
        before_accept=("`WebSocketServerError`, code 1011", "the handler's `RuntimeError`"),
        log=('"[FALCON] Unhandled exception in ASGI app"', SAME_LOG),
        change="before accept (the conductor offers no denial response, so the exception goes "
        "on to it): `pytest.raises(WebSocketServerError)` becomes `pytest.raises(RuntimeError)`",
    ),
    "blacksheep": TestClientRow(
        client="`blacksheep.testing.TestClient` takes the `Application` itself, so it tests "
        "without the guard; Starlette's `TestClient(asgi_app)` tests what `guard()` returned",
        after_accept=("close 1011 with the exception's text", "close 1011 'Internal Error'"),
        before_accept=("`WebSocketDisconnect`, code 1000", "`WebSocketDenialResponse`, 500"),
        log=('"Exception while handling WebSocket"', SAME_LOG),
        change="`TestClient(app)` becomes `starlette.testclient.TestClient(asgi_app)`",
    ),
    "channels": TestClientRow(
        client="`channels.testing.WebsocketCommunicator`",
        after_accept=(
            "`receive_output()` raises the handler's `RuntimeError`",
            "`receive_output()` returns the close 1011 'Internal Error', the next raises",
        ),
        before_accept=(
            "`connect()` raises the handler's `RuntimeError`",
            "`connect()` raises the handler's `RuntimeError`",
        ),
        log=("none; the server's traceback", "the same"),
        change="one `assert (await communicator.receive_output())['code'] == 1011` "
        "before the `pytest.raises(RuntimeError)`",
    ),
}


def _raised(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, RuntimeError) and apps.SECRET in str(exc):
        return "the handler's `RuntimeError`"
    code = getattr(exc, "code", None)
    if code is None and exc.args and type(exc.args[0]) is int:
        code = exc.args[0]  # Quart's WebsocketDisconnectError
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    extra = f", code {code}" if code is not None else f", {status}" if status else ""
    return f"`{name}`{extra}"


def _outcome(run: Callable[[], Any]) -> str:
    try:
        run()
    except pytest.fail.Exception:
        raise  # pytest-timeout's: a test client that hangs fails the test, never reports
    except BaseException as exc:  # every test client reports in its own way
        return _raised(exc)
    return "nothing raised"


def _litestar(guarded: bool, path: str) -> str:
    from litestar.testing import TestClient

    app = apps.litestar_app(True, {}, plugin=True) if guarded else apps.litestar_app(False)

    def session() -> None:
        with TestClient(app) as client, client.websocket_connect(path) as websocket:
            websocket.receive_text()

    return _outcome(session)


def _quart(guarded: bool, path: str) -> str:
    app = apps.quart_app(True, {}, extension=True) if guarded else apps.quart_app(False)
    waited: list[bool] = []

    async def session() -> None:
        async with app.test_client().websocket(path) as websocket:
            try:
                await asyncio.wait_for(websocket.receive(), QUART_WAIT)
            except asyncio.TimeoutError:
                waited.append(True)

    raised = _outcome(lambda: asyncio.run(session()))
    return QUART_RECEIVE_WAITS if waited else raised


#: Quart 0.23 (it needs Python 3.13) changed its test client: the app's close ends the app's
#: side only and never reaches the test's `receive()`, which waits, with the guard or without.
QUART_RECEIVE_WAITS = "`receive()` waits: the close never reaches it"
QUART_WAIT = 1.0  # seconds; the close reaches an older test client at once


def expected(framework: str) -> TestClientRow:
    """What the page says for ``framework``, as the installed version shows it."""
    row = TEST_CLIENTS[framework]
    if framework == "quart" and _version("quart") >= (0, 23):
        return replace(row, after_accept=(QUART_RECEIVE_WAITS, QUART_RECEIVE_WAITS))
    return row


def _version(distribution: str) -> tuple[int, ...]:
    release = metadata.version(distribution).split(".")[:2]
    return tuple(int(part) for part in release)


def _falcon(guarded: bool, path: str) -> str:
    from falcon.testing import ASGIConductor

    app = apps.falcon_app(guarded, {})

    async def session() -> None:
        async with ASGIConductor(app) as conductor, conductor.simulate_ws(path) as websocket:
            await websocket.receive_text()

    return _outcome(lambda: asyncio.run(session()))


def _blacksheep(guarded: bool, path: str) -> str:
    from starlette.testclient import TestClient

    app = apps.blacksheep_app(guarded, {})
    received: list[dict[str, Any]] = []

    def session() -> None:
        with TestClient(app) as client, client.websocket_connect(path) as websocket:
            received.append(websocket.receive())

    raised = _outcome(session)
    if received:
        close = received[0]
        reason = close["reason"]
        said = "with the exception's text" if apps.SECRET in reason else repr(reason)
        return f"close {close['code']} {said}"
    return raised


def _channels(guarded: bool, path: str) -> str:
    from channels.testing import WebsocketCommunicator

    application = apps.channels_app(guarded, {}, sync=False)
    steps: list[str] = []

    async def session() -> None:
        communicator = WebsocketCommunicator(application, path)
        try:
            await communicator.connect()
        except BaseException as exc:
            steps.append(f"`connect()` raises {_raised(exc)}")
            return
        try:
            first = await communicator.receive_output(2)
        except BaseException as exc:
            steps.append(f"`receive_output()` raises {_raised(exc)}")
            return
        try:
            await communicator.receive_output(2)
        except BaseException:
            steps.append(
                f"`receive_output()` returns the close {first['code']} {first['reason']!r}, "
                "the next raises"
            )

    asyncio.run(session())
    return steps[0]


OBSERVERS: dict[str, Callable[[bool, str], str]] = {
    "litestar": _litestar,
    "quart": _quart,
    "falcon": _falcon,
    "blacksheep": _blacksheep,
    "channels": _channels,
}

#: The logger and the text of each framework's own line for a handler's exception.
FRAMEWORK_LOGS: dict[str, str] = {
    "quart": "Exception on websocket",
    "falcon": "[FALCON] Unhandled exception in ASGI app",
    "blacksheep": "Exception while handling WebSocket",
}


def observe(framework: str) -> TestClientRow:
    """Run each scenario through the framework's test client, raw and guarded."""
    observer = OBSERVERS[framework]
    row = expected(framework)
    return TestClientRow(
        client=row.client,
        after_accept=(observer(False, "/crash"), observer(True, "/crash")),
        before_accept=(
            observer(False, "/crash-before-accept"),
            observer(True, "/crash-before-accept"),
        ),
        log=row.log,
        change=row.change,
    )


def logged(framework: str, records: list[logging.LogRecord]) -> int:
    """How many times the framework's own line for the exception is among ``records``."""
    line = FRAMEWORK_LOGS[framework]
    return sum(line in record.getMessage() for record in records)
