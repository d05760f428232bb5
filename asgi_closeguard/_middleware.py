"""CloseGuardMiddleware: one correct WebSocket close, whatever the app does, on every server."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from ._codes import CloseCode, is_sendable, replacement_code, why_not_sendable
from ._errors import ForbiddenCloseCodeError, WebSocketClosedError
from ._frame import normalise_reason
from ._record import ClosedBy, CloseRecord
from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CloseGuardMiddleware", "ExceptionCodes", "OnClose"]

logger = logging.getLogger("asgi_closeguard")

#: ``{ExceptionClass: code}`` or ``{ExceptionClass: (code, reason)}``.
ExceptionCodes = Mapping[type[BaseException], int | tuple[int, str]]
#: Called with each connection's :class:`CloseRecord`; may return an awaitable.
OnClose = Callable[[CloseRecord], Any]

_NORMAL_CLOSURE: Final = int(CloseCode.NORMAL_CLOSURE)
_INTERNAL_ERROR: Final = int(CloseCode.INTERNAL_ERROR)
# ASGI spec 2.5: `websocket.disconnect` carries 1005 when the client's close frame had no code.
_NO_STATUS_RECEIVED: Final = int(CloseCode.NO_STATUS_RECEIVED)
_HTTP_FORBIDDEN: Final = 403
_HTTP_INTERNAL_SERVER_ERROR: Final = 500
_INTERNAL_ERROR_BODY: Final = b"Internal Server Error"
_DENIAL_EXTENSION: Final = "websocket.http.response"


class CloseGuardMiddleware:
    """Make every WebSocket connection of an ASGI app end with one correct close.

    Wrap any ASGI app (``CloseGuardMiddleware(app)``), or add it to Starlette or FastAPI with
    ``app.add_middleware(CloseGuardMiddleware)``. HTTP and lifespan scopes pass straight through.
    For WebSocket scopes the guard:

    - sends only codes allowed on the wire: a missing or ``None`` code becomes 1000; 1005 becomes
      1000, 1006, 1015 and every other code that may not be sent become 1011, with a warning
      (or, with ``strict=True``, ``send()`` raises :class:`ForbiddenCloseCodeError`);
    - makes the reason fit: ``None`` becomes ``""``, non-text becomes JSON text, lone surrogates
      are replaced, and anything over 123 bytes of UTF-8 is cut at a character boundary;
    - drops a second close, and raises :class:`WebSocketClosedError` for a send after the
      connection closed, whichever side closed it;
    - closes with 1011 (or the code ``exception_codes`` maps the exception to) when the app
      raises after accept, answers HTTP 500 when it raises before accept, closes with 1000 when
      it returns without closing, and answers 403 when it returns before accepting;
    - reports a client close without a code as 1005 and a missing reason as ``""``;
    - hands one :class:`CloseRecord` per connection to ``on_close``.

    Args:
        app: the ASGI application to guard.
        exception_codes: close codes for exception classes, looked up along the exception's MRO,
            most specific first: ``{TimeoutError: 1013, PermissionError: (1008, "Forbidden")}``.
            Every code must be allowed on the wire. Exceptions not named close with 1011.
        on_close: called once per WebSocket connection with its :class:`CloseRecord` after the
            app has finished; a plain function or a coroutine function, or a sequence of them,
            called in order. One that raises is logged and the others still run.
        strict: refuse, rather than replace, close codes that may not go on the wire:
            ``send()`` raises :class:`ForbiddenCloseCodeError` and nothing is sent.
        reraise: re-raise the app's exception after the guard's close (the default), so the
            server logs it and test clients see it. With ``False`` the guard logs it on the
            ``asgi_closeguard`` logger instead. An exception before accept is always re-raised.
        expose_exception_text: put ``"ExceptionType: message"`` in the close reason sent for an
            exception. Off by default: an exception's text can carry secrets and internals.
        close_timeout: once a close frame went out (the app's or the guard's), how many seconds
            the guard waits, at most, for the client's close before the app's call ends, so the
            closing handshake completes before the server drops the TCP connection. 0 does not
            wait.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        exception_codes: ExceptionCodes | None = None,
        on_close: OnClose | Sequence[OnClose] | None = None,
        strict: bool = False,
        reraise: bool = True,
        expose_exception_text: bool = False,
        close_timeout: float = 1.0,
    ) -> None:
        self.app = app
        self.exception_closes = _validate_exception_codes(exception_codes)
        self.on_close = _validate_on_close(on_close)
        for option, value in (
            ("strict", strict),
            ("reraise", reraise),
            ("expose_exception_text", expose_exception_text),
        ):
            if not isinstance(value, bool):
                raise TypeError(f"{option} must be True or False, not {value!r}")
        self.strict = strict
        self.reraise = reraise
        self.expose_exception_text = expose_exception_text
        if (
            isinstance(close_timeout, bool)
            or not isinstance(close_timeout, int | float)
            or not 0 <= close_timeout < float("inf")
        ):
            raise ValueError(
                f"close_timeout must be a number of seconds, 0 or more, not {close_timeout!r}"
            )
        self.close_timeout = float(close_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        # Everything about this connection lives in these locals, never on `self`: one
        # middleware instance serves every connection at once.
        started = time.perf_counter()
        accepted = False
        # Nothing more may go out once a close went out, the client left or a send failed.
        closed = False
        closed_by: ClosedBy | None = None
        code: int | None = None
        reason = ""
        requested_code: object = None
        http_status: int | None = None
        denial_open = False  # a denial response has started and its body is not complete
        # The `websocket.disconnect` that receive() hands out once the connection is over.
        ended: Message | None = None
        exception_type: type[BaseException] | None = None
        cancelled = False
        messages_sent = 0
        messages_received = 0

        def refuse(kind: str) -> WebSocketClosedError:
            if closed_by == "client":
                why = f"the client disconnected with code {code}"
            elif closed_by == "server":
                why = "the server could not send: the connection is gone"
            else:
                why = f"it was closed with code {code}" if accepted else "the handshake ended"
            return WebSocketClosedError(f"cannot send {kind!r} on this WebSocket: {why}")

        async def guarded_receive() -> Message:
            nonlocal messages_received
            if ended is not None:
                return dict(ended)
            message = await receive()
            if message["type"] == "websocket.receive":
                messages_received += 1
                return message
            return note_incoming(message)

        def note_incoming(message: Message) -> Message:
            nonlocal closed, closed_by, code, reason, ended
            if message["type"] != "websocket.disconnect":
                return message
            client_code = message.get("code")
            client_reason = message.get("reason")
            if client_code is None or client_reason is None:
                # ASGI 2.5 defaults; daphne leaves the reason out and hypercorn the code.
                message = {
                    **message,
                    "code": _NO_STATUS_RECEIVED if client_code is None else client_code,
                    "reason": "" if client_reason is None else client_reason,
                }
            # Only reached while neither the app nor the guard has closed (else `ended` answers),
            # so the code is the client's, or the server's report of a dropped connection.
            if closed_by is None:
                closed_by = "client"
            code, reason = message["code"], message["reason"]
            closed = True
            ended = message
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal messages_sent
            if message["type"] == "websocket.send":
                if closed:
                    raise refuse("websocket.send")
                messages_sent += 1
                try:
                    await send(message)
                except OSError as exc:
                    note_send_failed()
                    raise WebSocketClosedError(
                        f"the server could not send on this WebSocket: {exc!r}"
                    ) from exc
                return
            await send_control(message)

        def note_send_failed() -> None:
            nonlocal closed, closed_by
            closed = True  # the send path only gets here while open, so nobody closed yet
            closed_by = "server"

        async def send_control(message: Message) -> None:
            nonlocal accepted, closed, closed_by, code, reason, requested_code
            nonlocal http_status, denial_open, ended
            kind = message["type"]
            if closed:
                if kind == "websocket.close":
                    # RFC 6455 §5.5.1: an endpoint sends one close frame. Servers raise, ignore
                    # or crash on a second; the guard drops it.
                    logger.debug("dropped a second websocket.close on %s", scope.get("path"))
                    return
                raise refuse(kind)
            if kind == "websocket.close" and denial_open:
                # The handshake is being answered with HTTP: no close frame can follow (uvicorn
                # raises on one), and the client is still reading the response. End that
                # response instead, so the client gets it whole and nothing follows the close.
                closed_by = "app"
                ended = _disconnect(_NORMAL_CLOSURE, "")
                await finish_denial()
            elif kind == "websocket.close":
                close_code, close_reason, replaced = self._outgoing_close(message)
                closed = True
                closed_by = "app"
                requested_code = replaced
                ended = _disconnect(close_code, close_reason)
                if accepted:
                    code, reason = close_code, close_reason
                else:
                    http_status = _HTTP_FORBIDDEN  # ASGI: a close before accept is a 403
                sent = await deliver_close(close_code, close_reason)
                note_sent(close_code, sent)
                if accepted and sent is not None and sent != close_code:
                    # receive() reports the close that went out: the server's fallback.
                    ended = _disconnect(sent, close_reason)
            elif kind == "websocket.accept":
                await send(message)
                accepted = True
            elif kind == "websocket.http.response.start":
                http_status = message.get("status")
                # After accept there is no handshake left to answer: the server refuses the
                # message, and the guard still owes the WebSocket its close.
                denial_open = not accepted
                await send(message)
            elif kind == "websocket.http.response.body":
                await send(message)
                if not message.get("more_body", False):
                    denial_open = False
                    closed = True
                    closed_by = "app"
                    ended = _disconnect(_NORMAL_CLOSURE, "")
            else:
                await send(message)

        async def deliver_close(
            close_code: int, close_reason: str, *, fallback: bool = True
        ) -> int | None:
            """Send a close and return the code the server took (``None``: it took none).

            A server's refusal or a vanished client never escapes from here. A refused code is
            retried once as 1000 when ``fallback`` is on.
            """
            message = {"type": "websocket.close", "code": close_code, "reason": close_reason}
            try:
                await send(message)
            except OSError as exc:
                # The client is gone (uvicorn raises ClientDisconnected): nothing to close.
                logger.debug("close %d not sent, the connection is gone: %r", close_code, exc)
                return None
            except Exception as exc:
                if not fallback or close_code == _NORMAL_CLOSURE:
                    logger.debug("the server refused close %d: %r", close_code, exc)
                    return None
                # daphne 4.2.3 (autobahn's sendClose) takes only 1000 and 3000-4999: any other
                # code raises a bare Exception and the socket then stays open until daphne's
                # 24-hour websocket_timeout. 1000 is the one code every server takes, so the
                # client still gets a close frame.
                logger.warning(
                    "the server refused close code %d (%r); closed with 1000 instead",
                    close_code,
                    exc,
                )
                return await deliver_close(_NORMAL_CLOSURE, close_reason, fallback=False)
            return close_code

        def note_sent(asked: int, sent: int | None) -> None:
            """Make the record say what went out when it is not the close that was asked for."""
            nonlocal closed_by, code, reason, requested_code
            if sent == asked or not accepted:
                return
            if sent is None:
                # Refused without a fallback, or the connection was already gone: no close
                # frame went out, and the server is who ended the connection.
                closed_by, code, reason = "server", None, ""
            elif requested_code is None:
                requested_code, code = asked, sent
            else:
                code = sent

        async def finish_denial() -> None:
            # The app started a denial response and stopped before its last body chunk: end it,
            # or the client waits for the rest.
            nonlocal denial_open, closed
            denial_open = False
            closed = True
            try:
                await send({"type": "websocket.http.response.body", "body": b""})
            except Exception as exc:
                logger.debug("could not finish the denial response: %r", exc)

        async def answer_500() -> None:
            nonlocal closed, closed_by, http_status
            closed = True
            http_status = _HTTP_INTERNAL_SERVER_ERROR
            if _DENIAL_EXTENSION not in (scope.get("extensions") or {}):
                # No denial extension (daphne): the re-raised exception makes the server
                # answer 500 itself. A close here would be a 403, which says "forbidden".
                closed_by = "server"
                return
            closed_by = "guard"
            try:
                await send(
                    {
                        "type": "websocket.http.response.start",
                        "status": _HTTP_INTERNAL_SERVER_ERROR,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(_INTERNAL_ERROR_BODY)).encode()),
                        ],
                    }
                )
                await send({"type": "websocket.http.response.body", "body": _INTERNAL_ERROR_BODY})
            except Exception as exc:
                logger.debug("could not answer the handshake with 500: %r", exc)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception as exc:
            exception_type = type(exc)
            if not accepted:
                if denial_open:
                    await finish_denial()
                elif not closed:
                    await answer_500()
                raise
            if closed:
                if closed_by in ("client", "server") and _is_starlette_disconnect(exc):
                    # Starlette's WebSocketDisconnect only echoes the client leaving: not an
                    # error, so no traceback in the server's log.
                    exception_type = None
                    logger.debug("the client left %s: %r", scope.get("path"), exc)
                    return
                raise
            close_code, close_reason, requested_code = self._close_for_exception(exc)
            closed = True
            closed_by = "guard"
            code, reason = close_code, close_reason
            ended = _disconnect(close_code, close_reason)
            # A server that refuses the code (daphne 4.2.3 takes only 1000 and 3000-4999) gets
            # the exception re-raised instead: daphne then sends 1011 itself. Only when the
            # exception stops here does the guard fall back to 1000, so the socket never stays
            # open.
            sent = await deliver_close(close_code, close_reason, fallback=not self.reraise)
            note_sent(close_code, sent)
            if self.reraise:
                raise
            logger.error(
                "WebSocket handler for %s raised; %s",
                scope.get("path"),
                "the client was gone" if sent is None else f"closed with {sent}",
                exc_info=exc,
            )
        except BaseException as exc:
            # CancelledError, KeyboardInterrupt, SystemExit: the server or the process is
            # ending the app. Sending anything now could block shutdown.
            cancelled = True
            exception_type = type(exc)
            if closed_by is None:
                closed_by = "server"
            raise
        else:
            if denial_open:
                await finish_denial()
            elif not closed:
                closed = True
                closed_by = "guard"
                if accepted:
                    # The handler returned without closing: uvicorn sends no close frame
                    # (1006 in the browser), hypercorn 1011, daphne keeps the socket open.
                    code = _NORMAL_CLOSURE
                else:
                    http_status = _HTTP_FORBIDDEN  # ASGI: returning before accept is a 403
                ended = _disconnect(_NORMAL_CLOSURE, "")
                note_sent(_NORMAL_CLOSURE, await deliver_close(_NORMAL_CLOSURE, ""))
        finally:
            if (
                accepted
                and not cancelled
                and closed_by in ("app", "guard")
                and code is not None
                and self.close_timeout
            ):
                await self._await_client_close(receive)
            if self.on_close is not None:
                await self._report(
                    CloseRecord(
                        path=scope.get("path", ""),
                        closed_by=closed_by or "server",
                        code=code,
                        reason=reason,
                        requested_code=requested_code,
                        exception=exception_type,
                        accepted=accepted,
                        http_status=None if accepted else http_status,
                        duration=time.perf_counter() - started,
                        messages_sent=messages_sent,
                        messages_received=messages_received,
                        route=_route_template(scope),
                    )
                )

    def _outgoing_close(
        self, message: Message, *, may_refuse: bool = True
    ) -> tuple[int, str, object]:
        """The code and reason to send for the app's ``websocket.close``, and the code it asked
        for when that had to be replaced (``None`` otherwise).

        ``may_refuse=False`` replaces a forbidden code even in strict mode: once the app has
        raised, nobody is left to catch the refusal, and the client still needs a close."""
        asked = message.get("code")
        if asked is None:
            code, replaced = _NORMAL_CLOSURE, None  # ASGI: the default close code is 1000
        elif is_sendable(asked):
            # An IntEnum member goes out as a plain int: daphne (autobahn) refuses any code
            # whose type is not exactly int.
            code, replaced = int(asked), None
        else:
            rule = why_not_sendable(asked) or ""
            if self.strict and may_refuse:
                raise ForbiddenCloseCodeError(asked, rule)
            code, replaced = replacement_code(asked), asked
            logger.warning("close code %r replaced with %d: %s", asked, code, rule)
        return code, normalise_reason(message.get("reason")), replaced

    def _close_for_exception(self, exc: Exception) -> tuple[int, str, object]:
        """The close code and reason for an exception the app raised after accept, and the code
        that was asked for when it had to be replaced."""
        starlette_close = _starlette_websocket_exception(exc)
        if starlette_close is not None:
            # Starlette's WebSocketException carries the close the app chose: keep it.
            return self._outgoing_close(
                {"code": starlette_close[0], "reason": starlette_close[1]}, may_refuse=False
            )
        code, reason = _INTERNAL_ERROR, _plain_name(_INTERNAL_ERROR)
        for cls in type(exc).__mro__:
            mapped = self.exception_closes.get(cls)
            if mapped is not None:
                code, reason = mapped
                break
        if self.expose_exception_text:
            reason = normalise_reason(_exception_text(exc))
        return code, reason, None

    async def _await_client_close(self, receive: Receive) -> None:
        """Read from the server until the client's close arrives, for ``close_timeout`` at most.

        RFC 6455 §7.1.1: after an endpoint has sent and received a close frame, the server
        closes the TCP connection. hypercorn 0.18 drops it as soon as the app returns; a client
        that still had a message in flight then gets a TCP reset, and a browser reports 1006
        instead of the close it was sent. Holding the app's call until the client's close is
        in completes the handshake. Whatever the client still sends is dropped: the app is done.
        """

        async def until_disconnect() -> None:
            while (await receive())["type"] != "websocket.disconnect":
                pass

        try:
            await _within(self.close_timeout, until_disconnect)
        except Exception as exc:  # a server whose receive fails after the close: nothing to do
            # The type only: the error may carry what the app's own exception carried.
            logger.debug("stopped waiting for the client's close: %s", type(exc).__name__)

    async def _report(self, record: CloseRecord) -> None:
        for on_close in self.on_close or ():
            try:
                result = on_close(record)
                if hasattr(result, "__await__"):
                    await result
            except Exception:
                logger.exception("on_close callback %r raised", on_close)


async def _within(seconds: float, work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work()``, giving up after ``seconds``, under trio or asyncio alike.

    The guard depends on neither: it uses whichever one is running the app.
    """
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass  # trio is imported, but asyncio runs this app
        else:
            with trio.move_on_after(seconds):
                await work()
            return
    import asyncio

    try:
        await asyncio.wait_for(work(), seconds)
    except asyncio.TimeoutError:  # the builtin TimeoutError from 3.11 on
        logger.debug("the client did not answer the close within %s s", seconds)


def _validate_on_close(on_close: object) -> tuple[OnClose, ...] | None:
    if on_close is None:
        return None
    callbacks = (
        tuple(on_close)
        if isinstance(on_close, Sequence) and not isinstance(on_close, str | bytes)
        else (on_close,)
    )
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(
                "on_close must be a function that takes a CloseRecord, or a sequence of them, "
                f"not {callback!r}"
            )
    return callbacks or None


def _route_template(scope: Scope) -> str | None:
    """The matched route's path template (``"/rooms/{room}"``), never the raw path.

    Starlette's router, and so FastAPI's, stores the matched route in ``scope["route"]``; the
    scope is the same dict the app was given, so it is there once the app has run.
    """
    template = getattr(scope.get("route"), "path", None)
    return template if isinstance(template, str) else None


def _validate_exception_codes(
    exception_codes: ExceptionCodes | None,
) -> dict[type[BaseException], tuple[int, str]]:
    if exception_codes is None:
        return {}
    if not isinstance(exception_codes, Mapping):
        raise TypeError(
            "exception_codes must be a mapping such as {TimeoutError: 1013}, "
            f"not {type(exception_codes).__name__}"
        )
    closes: dict[type[BaseException], tuple[int, str]] = {}
    for exc_class, value in exception_codes.items():
        if not isinstance(exc_class, type) or not issubclass(exc_class, Exception):
            raise TypeError(
                f"exception_codes keys must be Exception subclasses, not {exc_class!r} "
                "(CancelledError, KeyboardInterrupt and SystemExit always propagate untouched)"
            )
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
            code, reason = value
        elif isinstance(value, tuple):
            raise TypeError(
                f"exception_codes[{exc_class.__name__}] must be a code or a (code, reason) "
                f"pair with a str reason, not {value!r}"
            )
        else:
            code, reason = value, None
        rule = why_not_sendable(code)
        if rule is not None:
            raise ValueError(
                f"exception_codes[{exc_class.__name__}] = {code!r} cannot be sent: {rule}. "
                "Use 1011 (internal error), another code from 1000-1003 or 1007-1014, "
                "or one from 3000-4999"
            )
        # The configured reason goes on the wire as it is sent: make it fit once, here.
        closes[exc_class] = (
            int(code),
            _plain_name(code) if reason is None else normalise_reason(reason),
        )
    return closes


def _plain_name(code: int) -> str:
    """ "Internal Error" for 1011: the reason sent with a code, never an exception's text."""
    try:
        return CloseCode(code).name.replace("_", " ").title()
    except ValueError:
        return ""


def _exception_text(exc: Exception) -> str:
    """ "ValueError: bad input", or just the type's name when ``str(exc)`` itself raises."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # a broken __str__ must not replace the app's exception with its own
        return type(exc).__name__


def _disconnect(code: int, reason: str) -> Message:
    return {"type": "websocket.disconnect", "code": code, "reason": reason}


def _starlette_websocket_exception(exc: BaseException) -> tuple[object, object] | None:
    # Matched by name so that the package imports no framework.
    if _has_base(exc, "starlette.exceptions", "WebSocketException"):
        return getattr(exc, "code", None), getattr(exc, "reason", None)
    return None


def _is_starlette_disconnect(exc: BaseException) -> bool:
    return _has_base(exc, "starlette.websockets", "WebSocketDisconnect")


def _has_base(exc: BaseException, module: str, name: str) -> bool:
    return any(cls.__module__ == module and cls.__name__ == name for cls in type(exc).__mro__)
