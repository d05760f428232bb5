"""The app the shutdown suite serves: the same WebSocket handlers as plain ASGI and as FastAPI.

One server process serves one side, chosen by the environment when the module is imported:

* ``CLOSEGUARD_SHUTDOWN_SIDE``: ``raw`` (the handlers on their own) or ``guarded`` (the plain
  app wrapped in ``CloseGuardMiddleware``, the FastAPI app with ``app.add_middleware``);
* ``CLOSEGUARD_SHUTDOWN_APPS``: ``plain,fastapi`` (default), or one of them;
* ``CLOSEGUARD_SHUTDOWN_LOG``: the file every observation is appended to, one JSON object a
  line, written and flushed at once, so it is complete even when the server kills its worker.
  The test reads it once the server is gone.

WebSocket paths are ``/<plain|fastapi>/<scenario>/<conn>``; ``conn`` names the connection in
every line written about it. Every handler accepts and sends ``"ready"``, then:

==========  ===============================================================================
``idle``    waits in ``receive()`` (nothing arrives until the shutdown)
``stream``  sends ``"tick"`` every 50 ms and never calls ``receive()``
``sent``    echoes what it receives (the client sends a message just before the signal)
``silent``  waits for an event nothing sets: it neither reads nor sends, like a handler
            waiting on a queue with no traffic
==========  ===============================================================================

Lines written (``"t"`` is ``time.time()`` everywhere):

* ``{"event": "connected", "conn", "implementation"}``: the class behind the server's ``send``
  (uvicorn's WebSocket protocol), as the connection arrives;
* ``{"event": "saw", "conn", "what"}``: what the handler was told (a disconnect, a message, an
  exception from ``send()``);
* ``{"event": "ended", "conn", "how"}``: ``returned``, ``raised <Type>`` or ``cancelled``;
* ``{"event": "record", "conn", ...}``: the guard's ``CloseRecord``, from ``on_close``;
* ``{"event": "lifespan", "what"}``: ``startup`` / ``shutdown`` as the server sends them.

HTTP ``GET /health`` answers 200; ``GET /`` a blank page for the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from tests.servers.apps import implementation

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOG_ENV = "CLOSEGUARD_SHUTDOWN_LOG"
SIDE_ENV = "CLOSEGUARD_SHUTDOWN_SIDE"
APPS_ENV = "CLOSEGUARD_SHUTDOWN_APPS"

#: Seconds between two messages of the ``stream`` handler.
STREAM_EVERY = 0.05
#: Bound on one sub-app's lifespan step, so a stuck one never holds the server's start or exit.
LIFESPAN_STEP = 5.0

_PAGE = b"<!doctype html><html><head><title>shutdown</title></head><body>ok</body></html>"


def write(event: str, **fields: Any) -> None:
    """Append one observation to the log file named by ``CLOSEGUARD_SHUTDOWN_LOG``."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    line = json.dumps({"event": event, "t": time.time(), **fields}, sort_keys=True)
    # O_APPEND: each line lands whole even when several handlers write at once.
    with open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def connection_of(path: str) -> str:
    """The connection's name: the last segment of its path."""
    return path.rstrip("/").rsplit("/", 1)[-1]


@contextlib.asynccontextmanager
async def watched(conn: str) -> AsyncIterator[None]:
    """Write how the handler ended: returned, raised, or cancelled by the server."""
    try:
        yield
    except asyncio.CancelledError:
        write("ended", conn=conn, how="cancelled")
        raise
    except BaseException as exc:
        write("ended", conn=conn, how=f"raised {type(exc).__name__}")
        raise
    write("ended", conn=conn, how="returned")


# --- the plain ASGI handlers --------------------------------------------------------------------


async def plain(scope: Scope, receive: Receive, send: Send) -> None:
    """The scenarios as a plain ASGI app; errors of ``send()`` propagate, as in most apps."""
    if scope["type"] == "lifespan":
        await _plain_lifespan(receive, send)
        return
    conn = connection_of(scope["path"])
    scenario = scope["path"].strip("/").split("/")[1]
    async with watched(conn):
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "ready"})
        if scenario == "stream":
            await _plain_stream(conn, send)
        elif scenario == "silent":
            await asyncio.Event().wait()
        else:  # idle and sent: read until the connection ends, echoing what comes
            await _plain_read(conn, receive, send)


async def _plain_read(conn: str, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            write("saw", conn=conn, what=f"disconnect {message.get('code')}")
            return
        write("saw", conn=conn, what=f"message {message.get('text')!r}")
        await send({"type": "websocket.send", "text": message.get("text") or ""})


async def _plain_stream(conn: str, send: Send) -> None:
    while True:
        try:
            await send({"type": "websocket.send", "text": "tick"})
        except Exception as exc:
            write("saw", conn=conn, what=f"send raised {type(exc).__name__}")
            raise
        await asyncio.sleep(STREAM_EVERY)


async def _plain_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# --- the guard and the router in front ----------------------------------------------------------


def _write_record(record: Any) -> None:
    write(
        "record",
        conn=connection_of(record.path),
        closed_by=record.closed_by,
        code=record.code,
        reason=record.reason,
        exception=None if record.exception is None else record.exception.__name__,
    )


def _fastapi() -> ASGIApp:
    # Imported only when served: FastAPI's import is the heaviest part of a server's start.
    from tests.shutdown.fastapi_app import build

    return build()


def build_apps(side: str, names: list[str]) -> dict[str, ASGIApp]:
    """``{"plain": app, "fastapi": app}`` for ``side``: the guarded ones write their records."""
    apps: dict[str, ASGIApp] = {}
    for name in names:
        inner = plain if name == "plain" else _fastapi()
        if side == "guarded":
            from asgi_closeguard import CloseGuardMiddleware

            if name == "plain":
                inner = CloseGuardMiddleware(inner, on_close=_write_record)
            else:
                inner.add_middleware(CloseGuardMiddleware, on_close=_write_record)  # type: ignore[attr-defined]
        apps[name] = inner
    return apps


class LifespanFanOut:
    """Hands the server's one lifespan to every sub-app, so each guard sees the shutdown.

    The guard reports the connections a server abandons when the lifespan shutdown reaches it
    (granian never resumes them): a guard that never sees a lifespan could not.
    """

    def __init__(self, apps: list[ASGIApp]) -> None:
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inboxes = [asyncio.Queue[Message]() for _ in self.apps]
        outboxes = [asyncio.Queue[Message]() for _ in self.apps]
        tasks = [
            asyncio.ensure_future(app(dict(scope), inbox.get, outbox.put))
            for app, inbox, outbox in zip(self.apps, inboxes, outboxes, strict=True)
        ]
        try:
            while True:
                message = await receive()
                step = message["type"].removeprefix("lifespan.")
                write("lifespan", what=step)
                for inbox in inboxes:
                    inbox.put_nowait(message)
                for outbox in outboxes:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(outbox.get(), LIFESPAN_STEP)
                await send({"type": f"lifespan.{step}.complete"})
                if step == "shutdown":
                    return
        finally:
            for task in tasks:
                task.cancel()


class Router:
    """``/plain/*`` and ``/fastapi/*`` to their apps; HTTP answered here; lifespan fanned out."""

    def __init__(self) -> None:
        side = os.environ.get(SIDE_ENV, "raw")
        names = [n for n in os.environ.get(APPS_ENV, "plain,fastapi").split(",") if n]
        self.apps = build_apps(side, names)
        self.lifespan = LifespanFanOut(list(self.apps.values()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
        elif scope["type"] == "http":
            await _http(scope, send)
        else:
            # The server's own send, before any guard wraps it: its class names the WebSocket
            # implementation (uvicorn's --ws choice).
            write(
                "connected", conn=connection_of(scope["path"]), implementation=implementation(send)
            )
            await self.apps[scope["path"].strip("/").split("/")[0]](scope, receive, send)


async def _http(scope: Scope, send: Send) -> None:
    status, body, content_type = 404, b"not found", b"text/plain"
    if scope["path"] == "/health":
        status, body = 200, b"ok"
    elif scope["path"] == "/":
        status, body, content_type = 200, _PAGE, b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": body})


#: What the servers serve: ``tests.shutdown.app:app``.
app = Router()
