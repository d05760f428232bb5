"""The WebSocket scenarios through TestClient, on every mount, and what the guard recorded.

TestClient runs the app in-process: it shows what the app sent and what escaped from it, not
the wire (``test_wire.py`` has a real uvicorn for that). One scenario cannot go through
TestClient: a raw handler that returns without closing sends nothing more, and TestClient's
``receive()`` would wait for ever, so that one runs on the project's in-memory ASGI server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from starlette.websockets import WebSocketDisconnect

from demo_app.app import create_app
from demo_app.closes import RECENT_RECORDS
from demo_app.codes import APP_CODES
from demo_app.scenarios import ECHO_LIMIT, LOGIN_REFUSAL, MOUNTS, UpstreamTimeoutError
from tests.harness import run


@dataclass(frozen=True)
class Seen:
    """What the test client saw of one connection."""

    #: The first message the app sent after accept (a close), or None.
    message: dict[str, Any] | None = None
    #: The type of the exception that came out of the app (or of TestClient), or None.
    raised: type[BaseException] | None = None
    #: The code of a close before accept (TestClient raises WebSocketDisconnect for it).
    refused_code: int | None = None


def connect(client: TestClient, url: str) -> Seen:
    """Open ``url``, take the first message the app sends, and note what escaped."""
    message: dict[str, Any] | None = None
    try:
        with client.websocket_connect(url) as websocket:
            message = websocket.receive()
    except WebSocketDisconnect as exc:
        return Seen(message=message, raised=WebSocketDisconnect, refused_code=exc.code)
    except Exception as exc:
        return Seen(message=message, raised=type(exc))
    return Seen(message=message)


def close(code: int, reason: str = "") -> dict[str, Any]:
    return {"type": "websocket.close", "code": code, "reason": reason}


#: Raw scenarios after which the app sends nothing more: TestClient's receive() would block.
WAITS_FOR_EVER_ON_TESTCLIENT = frozenset({"return"})

# scenario URL, what the raw mount does (None: see WAITS_FOR_EVER_ON_TESTCLIENT), what the
# guarded mount does
SCENARIOS = [
    # Raw, the exception is all TestClient sees. The guard closes first, waits for the client's
    # close, and only then lets the exception out: the client reads the close.
    (
        "crash",
        Seen(raised=RuntimeError),
        Seen(message=close(1011, "Internal Error"), raised=RuntimeError),
    ),
    (
        "mapped",
        Seen(raised=UpstreamTimeoutError),
        Seen(message=close(1013, "Try Again Later"), raised=UpstreamTimeoutError),
    ),
    ("crash-before-accept", Seen(raised=RuntimeError), Seen(raised=RuntimeError)),
    ("return", None, Seen(message=close(1000))),
    # A restarting server on the first connection; a finished session on the next one.
    ("restart", Seen(message=close(1012, "restarting")), Seen(message=close(1012, "restarting"))),
    (
        "restart?attempt=2",
        Seen(message=close(1000, "session finished")),
        Seen(message=close(1000, "session finished")),
    ),
    ("close", Seen(message=close(1000)), Seen(message=close(1000))),
    ("close?code=4000&reason=ok", Seen(message=close(4000, "ok")), Seen(message=close(4000, "ok"))),
    ("close?code=3003", Seen(message=close(3003)), Seen(message=close(3003))),
    # Forbidden codes: the raw app hands them to the server as they are; the guard replaces them.
    ("close?code=1005&reason=r", Seen(message=close(1005, "r")), Seen(message=close(1000, "r"))),
    ("close?code=1006&reason=r", Seen(message=close(1006, "r")), Seen(message=close(1011, "r"))),
    ("close?code=1015", Seen(message=close(1015)), Seen(message=close(1011))),
    ("close?code=999", Seen(message=close(999)), Seen(message=close(1011))),
    ("close?code=70000", Seen(message=close(70000)), Seen(message=close(1011))),
    # FastAPI refuses a query it cannot parse with 1008 before accept (an HTTP 403 on the wire).
    ("close?code=abc", *[Seen(raised=WebSocketDisconnect, refused_code=1008)] * 2),
    # TestClient shows the code of a refusal before accept, on both: a browser sees 1006 on both
    # (an HTTP 403 on the wire), which is why the demo has a third mount (see below).
    ("login-required", *[Seen(raised=WebSocketDisconnect, refused_code=4401)] * 2),
]


@pytest.mark.parametrize(("url", "raw", "guarded"), SCENARIOS)
def test_scenario_on_both_mounts(
    client: TestClient, url: str, raw: Seen | None, guarded: Seen
) -> None:
    assert (raw is None) == (url in WAITS_FOR_EVER_ON_TESTCLIENT)
    if url not in WAITS_FOR_EVER_ON_TESTCLIENT:
        assert connect(client, f"/raw/ws/{url}") == raw
    assert connect(client, f"/guarded/ws/{url}") == guarded


@pytest.mark.parametrize("scenario", ["echo", "deploy"])
def test_echo_on_every_mount(client: TestClient, scenario: str) -> None:
    # The deploy scenario is the echo: a session that stays open; a deploy closes it.
    for mount in MOUNTS:
        with client.websocket_connect(f"/{mount}/ws/{scenario}") as websocket:
            for text in ("hello", "안녕"):
                websocket.send_text(text)
                assert websocket.receive_text() == text
            websocket.close(1000, "done")


def test_echo_closes_by_itself_after_its_limit(client: TestClient) -> None:
    with client.websocket_connect("/guarded/ws/echo") as websocket:
        for number in range(ECHO_LIMIT):
            websocket.send_text(str(number))
            assert websocket.receive_text() == str(number)
        assert websocket.receive() == close(1000, "echo limit reached")


# --- refuse_with="close": the same handlers behind a guard whose refusals a browser can read ---

# scenario URL → what /guarded-close sends after its accept, and what escaped from the app
REFUSALS = [
    ("login-required", close(4401, "login required"), None),
    ("crash-before-accept", close(1011, "Internal Error"), RuntimeError),
    # After accept it is the guarded mount's usual close.
    ("crash", close(1011, "Internal Error"), RuntimeError),
    ("close?code=4000&reason=ok", close(4000, "ok"), None),
]


@pytest.mark.parametrize(("url", "message", "raised"), REFUSALS)
def test_refuse_with_close_answers_a_refusal_with_an_accept_and_a_close(
    client: TestClient, url: str, message: dict[str, Any], raised: type[BaseException] | None
) -> None:
    assert connect(client, f"/guarded-close/ws/{url}") == Seen(message=message, raised=raised)


def test_the_login_refusal_is_recorded_on_both_guarded_mounts(client: TestClient) -> None:
    assert LOGIN_REFUSAL == (4401, "login required")
    assert APP_CODES[4401].reconnect == "no"
    for mount in ("guarded", "guarded-close"):
        connect(client, f"/{mount}/ws/login-required")
    records = {record["path"]: record for record in client.get("/api/closes").json()["records"]}
    keys = ("label", "code", "reason", "closed_by", "accepted", "http_status")
    # The default mode answers with HTTP 403; refuse_with="close" puts the app's code on the
    # wire. Neither handed the connection to the app as accepted.
    assert {key: records["/guarded/ws/login-required"][key] for key in keys} == {
        "label": "http-403",
        "code": None,
        "reason": "",
        "closed_by": "app",
        "accepted": False,
        "http_status": 403,
    }
    assert {key: records["/guarded-close/ws/login-required"][key] for key in keys} == {
        "label": "4401",
        "code": 4401,
        "reason": "login required",
        "closed_by": "app",
        "accepted": False,
        "http_status": None,
    }
    metrics = client.get("/metrics").text
    assert (
        'websocket_server_closes_total{closed_by="app",code="4401",exception="",'
        'route="/guarded-close/ws/login-required"} 1.0'
    ) in metrics


@pytest.mark.anyio
async def test_raw_return_sends_nothing_after_accept() -> None:
    # The in-memory server: after accept the raw handler returns and sends nothing at all —
    # on uvicorn that is a connection closed without a close frame (see test_wire.py).
    outcome = await run(create_app(), path="/raw/ws/return", receive_error=OSError("gone"))
    assert outcome.server.types() == ["websocket.accept"]
    assert outcome.exception is None


# --- what the guarded mount recorded --------------------------------------------------------

# scenario URL → the record /api/closes shows for it
RECORDS = [
    ("crash", {"label": "1011", "code": 1011, "reason": "Internal Error", "closed_by": "guard",
               "exception": "RuntimeError", "accepted": True}),
    ("mapped", {"label": "1013", "code": 1013, "reason": "Try Again Later", "closed_by": "guard",
                "exception": "demo_app.scenarios.UpstreamTimeoutError"}),
    ("crash-before-accept", {"label": "http-500", "code": None, "http_status": 500,
                             "closed_by": "guard", "accepted": False}),
    ("return", {"label": "1000", "code": 1000, "closed_by": "guard", "exception": None}),
    ("restart", {"label": "1012", "code": 1012, "reason": "restarting", "closed_by": "app"}),
    ("restart?attempt=3", {"label": "1000", "code": 1000, "reason": "session finished",
                           "closed_by": "app"}),
    ("close?code=1006&reason=r", {"label": "1011", "code": 1011, "reason": "r",
                                  "closed_by": "app", "requested_code": 1006}),
    ("close?code=4000", {"label": "4000", "code": 4000, "closed_by": "app",
                         "requested_code": None}),
    ("close?code=abc", {"label": "http-403", "code": None, "http_status": 403,
                        "closed_by": "app"}),
    ("login-required", {"label": "http-403", "code": None, "http_status": 403,
                        "closed_by": "app", "accepted": False}),
]  # fmt: skip


@pytest.mark.parametrize(("url", "expected"), RECORDS)
def test_guarded_closes_reach_api_closes_and_metrics(
    client: TestClient, url: str, expected: dict[str, Any]
) -> None:
    if url not in WAITS_FOR_EVER_ON_TESTCLIENT:
        connect(client, f"/raw/ws/{url}")  # the raw mount has no guard: nothing is recorded
    connect(client, f"/guarded/ws/{url}")
    snapshot = client.get("/api/closes").json()
    assert snapshot["total"] == 1
    assert snapshot["counts"] == {expected["label"]: 1}
    (record,) = snapshot["records"]
    assert record["path"] == "/guarded/ws/" + url.partition("?")[0]
    assert {key: record[key] for key in expected} == expected
    # CloseMetrics: "none" when no close frame went out, and the route's template with the
    # mount it sits under.
    metrics = client.get("/metrics").text
    code = "none" if expected["code"] is None else expected["code"]
    sample = (
        f'websocket_server_closes_total{{closed_by="{expected["closed_by"]}",code="{code}",'
        f'exception="{record["exception"] or ""}",route="/guarded/ws/{url.partition("?")[0]}"}} 1.0'
    )
    assert sample in metrics
    assert metrics.count("websocket_server_closes_total{") == 1


def test_echo_session_is_recorded_as_the_clients_close(client: TestClient) -> None:
    with client.websocket_connect("/guarded/ws/echo") as websocket:
        websocket.send_text("hi")
        websocket.receive_text()
        websocket.close(1000, "done")
    (record,) = client.get("/api/closes").json()["records"]
    assert record["closed_by"] == "client"
    assert (record["code"], record["reason"]) == (1000, "done")
    assert (record["messages_sent"], record["messages_received"]) == (1, 1)


def test_api_closes_counts_everything_and_keeps_the_last_hundred(client: TestClient) -> None:
    runs = RECENT_RECORDS + 5
    for number in range(runs):
        connect(client, f"/guarded/ws/close?code={4000 + number % 2}")
    snapshot = client.get("/api/closes").json()
    assert snapshot["total"] == runs
    assert snapshot["counts"] == {"4000": 53, "4001": 52}
    records = snapshot["records"]
    assert len(records) == RECENT_RECORDS
    # Newest first: the last connection used 4000 + (runs - 1) % 2.
    assert records[0]["code"] == 4000 + (runs - 1) % 2
    assert records[0]["time"] >= records[-1]["time"]


def test_every_app_has_its_own_log_and_registry() -> None:
    first, second = create_app(), create_app()
    with TestClient(first) as client:
        connect(client, "/guarded/ws/return")
    assert first.state.closes.snapshot()["total"] == 1
    assert second.state.closes.snapshot()["total"] == 0
    assert first.state.metrics_registry is not second.state.metrics_registry
    assert (
        first.state.metrics_registry.get_sample_value(
            "websocket_server_closes_total",
            {
                "code": "1000",
                "closed_by": "guard",
                "exception": "",
                "route": "/guarded/ws/return",
            },
        )
        == 1.0
    )
    assert (
        "websocket_server_closes_total{"
        not in generate_latest(second.state.metrics_registry).decode()
    )


def test_counts_are_in_code_order_with_http_answers_last(client: TestClient) -> None:
    for url in ("crash-before-accept", "close?code=4000", "crash", "return", "close?code=abc"):
        connect(client, f"/guarded/ws/{url}")
    assert list(client.get("/api/closes").json()["counts"]) == [
        "1000",
        "1011",
        "4000",
        "http-403",
        "http-500",
    ]
