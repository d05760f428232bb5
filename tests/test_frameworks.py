"""The guard inside real Starlette and FastAPI apps, through their TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Query, WebSocket
from starlette.applications import Starlette
from starlette.exceptions import WebSocketException
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from asgi_closeguard import CloseGuardMiddleware, CloseRecord, WebSocketClosedError

SECRET = "db-password=hunter2"


def build_fastapi(records: list[CloseRecord], **options: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        CloseGuardMiddleware,
        exception_codes={TimeoutError: 1013},
        on_close=records.append,
        **options,
    )

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            await websocket.send_text(await websocket.receive_text())

    @app.websocket("/crash")
    async def crash(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError(SECRET)

    @app.websocket("/crash-before-accept")
    async def crash_before_accept(websocket: WebSocket) -> None:
        raise RuntimeError(SECRET)

    @app.websocket("/mapped")
    async def mapped(websocket: WebSocket) -> None:
        await websocket.accept()
        raise TimeoutError(SECRET)

    @app.websocket("/return")
    async def return_(websocket: WebSocket) -> None:
        await websocket.accept()

    @app.websocket("/return-before-accept")
    async def return_before_accept(websocket: WebSocket) -> None:
        return

    @app.websocket("/close")
    async def close(websocket: WebSocket, code: int | None = None, reason: str = "") -> None:
        await websocket.accept()
        await websocket.close(code=code, reason=reason)  # type: ignore[arg-type]
        # After its own close, the app reads the close it sent, on every server.
        message = await websocket.receive()
        records_seen.append(message)

    @app.websocket("/validated")
    async def validated(websocket: WebSocket, token: str = Query()) -> None:
        await websocket.accept()  # pragma: no cover - FastAPI refuses before this

    @app.websocket("/websocket-exception")
    async def websocket_exception(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketException(4401, "token expired")

    @app.websocket("/listen")
    async def listen(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()  # raises WebSocketDisconnect when the client leaves

    @app.websocket("/send-after-close")
    async def send_after_close(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(4000)
        try:
            await websocket._send({"type": "websocket.send", "text": "late"})
        except WebSocketClosedError:
            records_seen.append({"raised": "WebSocketClosedError"})

    records_seen: list[Any] = []
    app.state.seen = records_seen
    return app


@pytest.fixture
def records() -> list[CloseRecord]:
    return []


@pytest.fixture
def client(records: list[CloseRecord]) -> Iterator[TestClient]:
    with TestClient(build_fastapi(records)) as test_client:
        yield test_client


def test_echo_still_echoes(client: TestClient, records: list[CloseRecord]) -> None:
    with client.websocket_connect("/echo") as websocket:
        websocket.send_text("ping")
        assert websocket.receive_text() == "ping"
        websocket.close(1000)
    (record,) = records
    assert (record.closed_by, record.code, record.messages_received, record.messages_sent) == (
        "client",
        1000,
        1,
        1,
    )
    assert record.exception is None  # WebSocketDisconnect echoing the client is no error


@pytest.mark.parametrize(
    ("path", "exception", "code", "reason"),
    [
        ("/crash", RuntimeError, 1011, "Internal Error"),
        ("/mapped", TimeoutError, 1013, "Try Again Later"),
    ],
)
def test_crash_after_accept_closes_with_the_mapped_code(
    client: TestClient,
    records: list[CloseRecord],
    path: str,
    exception: type[Exception],
    code: int,
    reason: str,
) -> None:
    # The guard closes, waits for the client's close, then lets the exception out: TestClient
    # hands over the close, and raises the exception when the client leaves.
    with pytest.raises(exception), client.websocket_connect(path) as websocket:
        message = websocket.receive()
    assert message == {"type": "websocket.close", "code": code, "reason": reason}
    (record,) = records
    assert (record.code, record.reason, record.closed_by) == (code, reason, "guard")
    assert SECRET not in record.reason
    assert record.exception is exception


def test_crash_before_accept_is_500(client: TestClient, records: list[CloseRecord]) -> None:
    # TestClient re-raises the app's exception; the 500 itself is checked on real servers.
    with pytest.raises(RuntimeError), client.websocket_connect("/crash-before-accept"):
        pass  # pragma: no cover
    (record,) = records
    assert (record.http_status, record.accepted, record.closed_by) == (500, False, "guard")


def test_return_after_accept_closes_1000(client: TestClient) -> None:
    with client.websocket_connect("/return") as websocket:
        assert websocket.receive() == {"type": "websocket.close", "code": 1000, "reason": ""}


def test_return_before_accept_is_403(client: TestClient, records: list[CloseRecord]) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/return-before-accept"):
        pass  # pragma: no cover
    assert records[0].http_status == 403


@pytest.mark.parametrize(
    ("query", "code", "reason"),
    [
        ("", 1000, ""),
        ("?code=1005&reason=done", 1000, "done"),
        ("?code=1006", 1011, ""),
        ("?code=4000&reason=" + "ü" * 100, 4000, "ü" * 60 + "…"),
    ],
)
def test_close_codes_and_reasons_are_made_valid(
    client: TestClient, query: str, code: int, reason: str
) -> None:
    with client.websocket_connect("/close" + query) as websocket:
        assert websocket.receive() == {"type": "websocket.close", "code": code, "reason": reason}
    assert client.app.state.seen == [
        {"type": "websocket.disconnect", "code": code, "reason": reason}
    ]  # type: ignore[attr-defined]


def test_fastapi_validation_errors_before_accept_pass_as_sent(client: TestClient) -> None:
    # Before accept nothing reaches the wire (the server answers 403): the test client sees
    # FastAPI's own close, as it would without the guard.
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/validated"):
        pass  # pragma: no cover
    assert closed.value.code == 1008
    assert closed.value.reason[0]["loc"] == ["query", "token"]


def test_websocket_exception_keeps_its_code(client: TestClient) -> None:
    with client.websocket_connect("/websocket-exception") as websocket:
        message = websocket.receive()
    assert (message["code"], message["reason"]) == (4401, "token expired")


def test_send_after_close_raises_one_oserror(client: TestClient) -> None:
    with client.websocket_connect("/send-after-close") as websocket:
        assert websocket.receive()["code"] == 4000
    assert client.app.state.seen == [{"raised": "WebSocketClosedError"}]  # type: ignore[attr-defined]


def test_client_leaving_is_recorded_as_the_client(
    client: TestClient, records: list[CloseRecord]
) -> None:
    with client.websocket_connect("/listen") as websocket:
        websocket.close(4001, "bye")
    (record,) = records
    assert (record.closed_by, record.code, record.reason, record.exception) == (
        "client",
        4001,
        "bye",
        None,
    )


def test_http_passes_through(records: list[CloseRecord]) -> None:
    app = build_fastapi(records)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    with TestClient(app) as client:
        assert client.get("/hello").json() == {"hello": "world"}
    assert records == []


def test_starlette_middleware_list_and_plain_wrapping() -> None:
    records: list[CloseRecord] = []

    async def crash(websocket: Any) -> None:
        await websocket.accept()
        raise RuntimeError(SECRET)

    routes = [WebSocketRoute("/crash", crash)]
    apps = [
        Starlette(
            routes=routes, middleware=[Middleware(CloseGuardMiddleware, on_close=records.append)]
        ),
        CloseGuardMiddleware(Starlette(routes=routes), on_close=records.append),
    ]
    for app in apps:
        with (
            TestClient(app) as client,
            pytest.raises(RuntimeError),
            client.websocket_connect("/crash") as websocket,
        ):
            assert websocket.receive()["code"] == 1011
    assert [record.code for record in records] == [1011, 1011]


def test_reraise_false_ends_quietly(records: list[CloseRecord]) -> None:
    with (
        TestClient(build_fastapi(records, reraise=False)) as client,
        client.websocket_connect("/crash") as websocket,
    ):
        assert websocket.receive()["code"] == 1011
    assert records[0].exception is RuntimeError
