"""Every Python snippet of ``docs/observability.md`` runs as it stands, and every app it builds
has exactly one guard: pasted together or one by one, they never install it once per
integration. An app's WebSocket connection is counted once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from asgi_closeguard import CloseGuardMiddleware
from tests.integrations.observability_docs import DOC, code_blocks

SNIPPETS = code_blocks("python")
CLOSES = "websocket_server_closes_total"


def run_snippet(snippet: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "observability_snippet"}
    exec(compile(snippet, str(DOC), "exec"), namespace)
    return namespace


def app_snippets() -> list[Any]:
    return [
        pytest.param(snippet, id=snippet.splitlines()[-1][:60])
        for snippet in SNIPPETS
        if "app = FastAPI()" in snippet
    ]


@pytest.fixture(autouse=True)
def multiprocess_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The multiprocess snippet reads ``PROMETHEUS_MULTIPROC_DIR``, as it would on a server."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    return tmp_path


def test_every_snippet_that_is_not_an_app_is_the_gunicorn_hook() -> None:
    others = [snippet for snippet in SNIPPETS if "app = FastAPI()" not in snippet]
    assert [snippet.splitlines()[0] for snippet in others] == ["# gunicorn.conf.py"]


@pytest.mark.parametrize("snippet", app_snippets())
def test_each_app_has_one_guard_and_counts_a_connection_once(snippet: str) -> None:
    app: FastAPI = run_snippet(snippet)["app"]
    guards = [m for m in app.user_middleware if m.cls is CloseGuardMiddleware]
    assert len(guards) == 1, snippet
    assert "add_middleware(CloseGuardMiddleware" in snippet
    assert snippet.count("add_middleware(CloseGuardMiddleware") == 1

    @app.websocket("/rooms/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.close(4000)

    labels = {"code": "4000", "closed_by": "app", "exception": "", "route": "/rooms/{room}"}
    before = REGISTRY.get_sample_value(CLOSES, labels) or 0.0
    with TestClient(app) as client, client.websocket_connect("/rooms/r-1") as websocket:
        assert websocket.receive()["code"] == 4000
    counted = (REGISTRY.get_sample_value(CLOSES, labels) or 0.0) - before
    assert counted == (1.0 if "CloseMetrics()" in snippet else 0.0)


def test_the_gunicorn_hook_forgets_a_dead_workers_gauge(multiprocess_directory: Path) -> None:
    (hook,) = [snippet for snippet in SNIPPETS if "def child_exit" in snippet]
    child_exit = run_snippet(hook)["child_exit"]
    dead = multiprocess_directory / "gauge_livesum_4242.db"
    alive = multiprocess_directory / "gauge_livesum_4343.db"
    dead.write_bytes(b"")
    alive.write_bytes(b"")
    child_exit(SimpleNamespace(), SimpleNamespace(pid=4242))
    assert not dead.exists()
    assert alive.exists()
