"""The app the server conformance suite serves: one plain ASGI app, routed by path.

Every server kind serves :data:`app`, which holds the same scenarios twice:

* ``/raw/<scenario>``: the scenario app on its own, to record what the server does today;
* ``/guarded/<scenario>``: the same app behind ``CloseGuardMiddleware``, mapping
  ``TimeoutError`` to 1013.

The router sits outside the guard and only picks the side by path: both sides get the
server's own ``receive`` and ``send``, untouched.

WebSocket scenarios (``?t=<token>`` names the run; the app stores what it observed under it):

==========================  ==============================================================
``echo``                    accept, then echo every text or bytes message
``crash``                   accept, then raise ``RuntimeError`` (its text carries a secret)
``crash-before-accept``     raise ``RuntimeError`` before accepting
``timeout``                 accept, then raise ``TimeoutError`` (mapped to 1013)
``return``                  accept, then return without closing
``return-before-accept``    return without accepting
``close``                   accept, send ``websocket.close`` with ``code`` / ``reason`` from
                            the query (``code=none`` sends ``None``, ``code=missing`` leaves
                            the key out, ``reason_bytes=N`` makes an N-byte reason), then
                            record what ``receive()`` returns next (``then=return``: return
                            at once instead, as most endpoints do)
``close-twice``             accept, close 1000, close 4000: record what the second send did
``send-after-close``        accept, close 1000, send a text: record what the send did
``client-close``            accept, send "ready", record the ``websocket.disconnect`` the
                            client's close produces, then record what a send does
==========================  ==============================================================

HTTP: ``GET /health`` answers 200; ``GET /report?t=<token>`` answers the JSON the scenario
stored (waiting up to :data:`REPORT_WAIT` seconds for the scenario to finish); ``GET /``
serves a blank HTML page for browser tests; ``GET /implementation`` names the class behind the
server's WebSocket ``send`` (uvicorn's protocol class: which implementation ``--ws`` chose), as
seen by the last WebSocket connection.

All state stays inside the server process (one worker): a dict of reports keyed by token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: How long a scenario waits for the next ``receive()`` before recording a timeout.
RECEIVE_WAIT = 2.5
#: How long ``GET /report`` waits for the scenario to store its report.
REPORT_WAIT = 4.0

#: The secret carried by every exception the scenarios raise: it must never reach a client.
SECRET = "secret-api-key-hunter2"

#: What each token's scenario observed; a report is complete once it has ``"done": True``.
_REPORTS: dict[str, dict[str, Any]] = {}
#: Set when the token's scenario has finished (created by whichever side asks first).
_FINISHED: dict[str, asyncio.Event] = {}
#: ``module.Class`` behind the server's WebSocket ``send``, from the last connection.
_IMPLEMENTATION: list[str] = []


def implementation(send: Send) -> str:
    """``module.Class`` of the object behind a server's ``send`` (uvicorn: its protocol)."""
    owner = getattr(send, "__self__", None)
    target: Any = type(owner) if owner is not None else send
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"


def _finished(token: str) -> asyncio.Event:
    return _FINISHED.setdefault(token, asyncio.Event())


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """A deterministic description of an exception a send raised: its type, never its text."""
    return {
        "type": type(exc).__name__,
        "oserror": isinstance(exc, OSError),
    }


def describe_event(event: Message | None) -> dict[str, Any] | None:
    """The parts of a received event that the contract talks about, JSON-ready."""
    if event is None:
        return None
    described: dict[str, Any] = {"type": event.get("type")}
    for key in ("code", "reason"):
        if key in event:
            described[key] = event[key]
    return described


async def _receive_bounded(receive: Receive) -> dict[str, Any]:
    """``receive()`` with a time limit: ``{"event": ...}`` or ``{"timeout": True}``."""
    try:
        event = await asyncio.wait_for(receive(), RECEIVE_WAIT)
    except asyncio.TimeoutError:
        return {"timeout": True}
    except Exception as exc:  # the server's receive itself failed
        return {"raised": describe_exception(exc)}
    return {"event": describe_event(event)}


async def _send_recorded(send: Send, message: Message) -> dict[str, Any] | None:
    """Send ``message``; return ``None`` if it went through, else how it failed."""
    try:
        await send(message)
    except Exception as exc:
        return describe_exception(exc)
    return None


def _close_message(query: dict[str, str]) -> Message:
    message: Message = {"type": "websocket.close"}
    code = query.get("code", "1000")
    if code == "none":
        message["code"] = None
    elif code != "missing":
        message["code"] = int(code)
    if "reason_bytes" in query:
        # Two-byte characters, so a cut that ignores character boundaries shows.
        size = int(query["reason_bytes"])
        message["reason"] = ("é" * (size // 2)) + ("x" * (size % 2))
    elif "reason" in query:
        message["reason"] = query["reason"]
    return message


async def scenarios(scope: Scope, receive: Receive, send: Send) -> None:
    """The scenario app: plain ASGI, no framework, so only the server and the guard act."""
    if scope["type"] != "websocket":  # pragma: no cover - the router sends only websockets
        raise RuntimeError(f"unexpected scope type {scope['type']!r}")
    query = _query(scope)
    token = query.get("t", "")
    name = scope["path"].rsplit("/", 1)[-1]
    report: dict[str, Any] = {"scenario": name, "done": False}
    if token:
        _REPORTS[token] = report
    try:
        await _run_scenario(name, query, token, report, receive, send)
    finally:
        report["done"] = True
        if token:
            _finished(token).set()


async def _run_scenario(
    name: str,
    query: dict[str, str],
    token: str,
    report: dict[str, Any],
    receive: Receive,
    send: Send,
) -> None:
    first = await receive()
    if first["type"] != "websocket.connect":  # pragma: no cover - servers start with connect
        report["first_event"] = describe_event(first)
        return
    if name == "crash-before-accept":
        raise RuntimeError(f"{SECRET} crash before accept {token}")
    if name == "return-before-accept":
        return
    await send({"type": "websocket.accept"})
    if name == "echo":
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                report["disconnect"] = describe_event(event)
                return
            if event.get("text") is not None:
                await send({"type": "websocket.send", "text": event["text"]})
            else:
                await send({"type": "websocket.send", "bytes": event.get("bytes") or b""})
    elif name == "crash":
        raise RuntimeError(f"{SECRET} crash {token}")
    elif name == "timeout":
        raise TimeoutError(f"{SECRET} timeout {token}")
    elif name == "return":
        return
    elif name == "close":
        report["close_raised"] = await _send_recorded(send, _close_message(query))
        if query.get("then") != "return":
            report["next_receive"] = await _receive_bounded(receive)
    elif name == "close-twice":
        report["first_raised"] = await _send_recorded(
            send, {"type": "websocket.close", "code": 1000, "reason": "first"}
        )
        report["second_raised"] = await _send_recorded(
            send, {"type": "websocket.close", "code": 4000, "reason": "second"}
        )
    elif name == "send-after-close":
        report["close_raised"] = await _send_recorded(
            send, {"type": "websocket.close", "code": 1000, "reason": "closing"}
        )
        report["send_raised"] = await _send_recorded(
            send, {"type": "websocket.send", "text": "too late"}
        )
    elif name == "client-close":
        await send({"type": "websocket.send", "text": "ready"})
        report["received"] = await _receive_bounded(receive)
        report["send_raised"] = await _send_recorded(
            send, {"type": "websocket.send", "text": "after the client left"}
        )
    else:
        await send({"type": "websocket.close", "code": 4404, "reason": f"no scenario {name}"})


def _guard(inner: ASGIApp) -> ASGIApp:
    from asgi_closeguard import CloseGuardMiddleware

    guarded: ASGIApp = CloseGuardMiddleware(inner, exception_codes={TimeoutError: 1013})
    return guarded


_PAGE = b"<!doctype html><html><head><title>closeguard</title></head><body>ok</body></html>"


async def _http(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    status, body, content_type = 404, b"not found", b"text/plain"
    if path == "/health":
        status, body = 200, b"ok"
    elif path == "/":
        status, body, content_type = 200, _PAGE, b"text/html; charset=utf-8"
    elif path == "/implementation":
        status, body = (200, _IMPLEMENTATION[-1].encode()) if _IMPLEMENTATION else (404, b"")
    elif path == "/report":
        token = _query(scope).get("t", "")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(_finished(token).wait(), REPORT_WAIT)
        _FINISHED.pop(token, None)
        found = _REPORTS.pop(token, None)
        status = 200 if found is not None else 404
        body = json.dumps(found, sort_keys=True).encode()
        content_type = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class Router:
    """Routes ``/raw/*`` to the bare scenarios and ``/guarded/*`` to the guarded ones."""

    def __init__(self) -> None:
        self._guarded: ASGIApp | None = None

    def guarded(self) -> ASGIApp:
        """The guarded scenario app, built on first use (the guard is imported lazily)."""
        if self._guarded is None:
            self._guarded = _guard(scenarios)
        return self._guarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            await _http(scope, receive, send)
        elif scope["path"].startswith("/guarded/"):
            await self.guarded()(scope, receive, send)
        else:
            # The server's own send, unwrapped: its class names the implementation.
            _IMPLEMENTATION[:] = [implementation(send)]
            await scenarios(scope, receive, send)


#: The app every server kind serves: ``tests.servers.apps:app``.
app = Router()
