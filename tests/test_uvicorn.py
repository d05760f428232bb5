"""The contract on the wire: real uvicorn processes, all three --ws implementations, read by
the `websockets` client. Without the guard these differ (see docs/contract.md); with it, not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.servers import Server, run_server

pytestmark = [pytest.mark.server, pytest.mark.anyio]

UVICORN_KINDS = ("uvicorn-websockets", "uvicorn-websockets-sansio", "uvicorn-wsproto")
TIME_LIMIT = 10.0


@pytest.fixture(scope="module", params=UVICORN_KINDS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with run_server(request.param, "tests.uvicorn_app:app", ready_path="/seen") as running:
        yield running


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the `websockets` client is asyncio's


async def close_seen_by_client(server: Server, path: str) -> tuple[int | None, str]:
    """Connect, wait for the server to end the connection, return the close frame it sent."""
    async with connect(server.ws_url(path), open_timeout=TIME_LIMIT) as websocket:
        with pytest.raises(ConnectionClosed):
            await websocket.recv(decode=True)
        received = websocket.protocol.close_rcvd  # None: the TCP connection ended, no frame
        if received is None:
            return None, ""
        return received.code, received.reason


# (path, close code on the wire, reason on the wire) — each row fails today on some uvicorn.
CLOSE_TABLE = [
    ("/crash", 1011, "Internal Error"),  # today: no close frame at all → 1006
    ("/mapped", 1013, "Try Again Later"),
    ("/return", 1000, ""),  # today: no close frame → 1006
    ("/close?code=1005&reason=done", 1000, "done"),  # today: crash, or 1000, or 1005 on the wire
    ("/close?code=1006", 1011, ""),
    ("/close?code=none", 1000, ""),  # today: TypeError, or an empty frame
    ("/close?code=4000&reason=" + "r" * 200, 4000, "r" * 120 + "…"),  # today: crash
]


@pytest.mark.parametrize(("path", "code", "reason"), CLOSE_TABLE)
async def test_close_frame_on_the_wire(server: Server, path: str, code: int, reason: str) -> None:
    assert await close_seen_by_client(server, path) == (code, reason)
    assert len(reason.encode()) <= 123


async def test_crash_before_accept_is_http_500(server: Server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url("/crash-before-accept"), open_timeout=TIME_LIMIT):
            pass  # pragma: no cover
    assert refused.value.response.status_code == 500
    assert b"secret" not in (refused.value.response.body or b"")


async def test_crash_traceback_is_logged_once_by_the_server(server: Server) -> None:
    # A tag of its own: tracebacks of earlier tests may still be on their way to the log.
    tag = f"crash-{uuid.uuid4().hex}"
    mark = server.mark()
    await close_seen_by_client(server, f"/crash?tag={tag}")
    assert server.wait_for_output(tag, since=mark)
    await anyio.sleep(0.3)  # room for a second copy, if anything were to log one
    assert (
        server.output(since=mark).count(f"RuntimeError: secret: do not show the client {tag}") == 1
    )


async def test_echo_still_echoes(server: Server) -> None:
    async with connect(server.ws_url("/echo"), open_timeout=TIME_LIMIT) as websocket:
        for text in ("one", "two", "ü" * 1000):
            await websocket.send(text)
            assert await websocket.recv() == text


async def test_the_app_sees_the_clients_close(server: Server) -> None:
    async with connect(server.ws_url("/listen"), open_timeout=TIME_LIMIT) as websocket:
        await websocket.close(4001, "bye")
    assert websocket.protocol.close_rcvd is not None
    assert (websocket.protocol.close_rcvd.code, websocket.protocol.close_rcvd.reason) == (
        4001,
        "bye",
    )
    seen: list[dict[str, object]] = []
    async with httpx.AsyncClient(timeout=TIME_LIMIT) as http:
        for _ in range(50):  # the handler runs after the close handshake: poll, bounded
            seen = (await http.get(server.http_url("/seen"))).json()
            if seen:
                break
            await anyio.sleep(0.05)
    assert seen[-1] == {"type": "websocket.disconnect", "code": 4001, "reason": "bye"}
