"""CloseGuardMiddleware: one correct WebSocket close, whatever the app does, on every server."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

from ._codes import fallback_code
from ._concurrency import cancel_requested, detach, is_cancellation, new_event, shielded, within
from ._connection import Connection, Policy, State, accept_message
from ._drain import Drain
from ._record import CloseRecord
from ._route import route_template
from ._types import ASGIApp, Message, Receive, Scope, Send
from ._validation import (
    ExceptionCodes,
    OnClose,
    asgi3_app,
    validate_exception_codes,
    validate_flag,
    validate_on_close,
    validate_seconds,
)

__all__ = ["CloseGuardMiddleware", "ExceptionCodes", "OnClose", "RefuseWith"]

logger = logging.getLogger("asgi_closeguard")

_DENIAL_EXTENSION: Final = "websocket.http.response"
# The scope key under which the guard serving a WebSocket puts itself, so that a second guard
# around the same connection (added twice, or an adapter plus add_middleware) steps aside.
GUARD_SCOPE_KEY: Final = "asgi_closeguard.guard"
_OPEN: Final = State.OPEN  # read by the hot path: one global load, no attribute
# How long the 1012 close at a shutdown may hold the app's task: the contract allows the
# server's exit 0.5 s more than without the guard.
_SHUTDOWN_CLOSE_TIMEOUT: Final = 0.25

#: How the guard answers a close, a crash or a return before accept: ``"http"`` (HTTP 403 or
#: 500, as every server does) or ``"close"`` (its own accept, then a close with the code).
RefuseWith = Literal["http", "close"]


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
      it returns without closing, and answers 403 when it returns before accepting (with
      ``refuse_with="close"``, a refusal before accept is a close the browser can read);
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
            ``asgi_closeguard`` logger instead. An exception before accept is always re-raised,
            unless ``refuse_with="close"`` answers it with a close, as after accept.
        expose_exception_text: put ``"ExceptionType: message"`` in the close reason sent for an
            exception. Off by default: an exception's text can carry secrets and internals.
        close_timeout: once a close frame went out (the app's or the guard's), how many seconds
            the guard waits, at most, for the client's close before the app's call ends, so the
            closing handshake completes before the server drops the TCP connection. 0 does not
            wait.
        drain: a :class:`Drain` that closes this guard's connections over a spread of time
            before a deploy stops the server (``await drain.start(spread=10)``).
        refuse_with: how a refusal before accept is answered. ``"http"`` (the default): HTTP
            403 for a close or a return, 500 for a crash, which a browser never shows to the
            page (its ``CloseEvent`` says 1006). ``"close"``: the guard accepts (with the first
            subprotocol the client offered) and closes at once with the app's code and reason
            (1000 if it gave none), the code ``exception_codes`` maps a crash to (default 1011),
            or 1008 for a return; the app never sees the connection again. A denial response
            the app sends itself (``websocket.http.response.start``) stays HTTP.
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
        drain: Drain | None = None,
        refuse_with: RefuseWith = "http",
    ) -> None:
        # Every option is checked here, when the guard is built, never at the first request.
        self.app = asgi3_app(app)
        self.exception_closes = validate_exception_codes(exception_codes)
        self.on_close = validate_on_close(on_close)
        self.strict = validate_flag("strict", strict)
        self.reraise = validate_flag("reraise", reraise)
        self.expose_exception_text = validate_flag("expose_exception_text", expose_exception_text)
        self.close_timeout = validate_seconds("close_timeout", close_timeout)
        if drain is not None and not isinstance(drain, Drain):
            raise TypeError(
                f"drain must be a Drain (drain = Drain(); ...(drain=drain)), not {drain!r}"
            )
        self.drain = drain
        self.refuse_with = _validate_refuse_with(refuse_with)
        # Integrations that count the connections open now (CloseMetrics' gauge) are told of
        # each accept; everything else hears only of the close, through its record.
        self._open_hooks: tuple[Callable[[str | None], object], ...] = tuple(
            hook
            for hook in (
                getattr(callback, "connection_opened", None) for callback in self.on_close or ()
            )
            if callable(hook)
        )
        self._watches_accepts = bool(self._open_hooks) or drain is not None
        self._warned_twice = False
        self._policy = Policy(
            exception_closes=self.exception_closes,
            strict=strict,
            expose_exception_text=expose_exception_text,
            refuse_with_close=self.refuse_with == "close",
        )
        # The connections whose app is still running, kept only to report those the server
        # abandons (see _watch_for_shutdown); no connection's state lives here.
        self._open_connections: dict[Connection, Scope] | None = {} if self.on_close else None

    # The three arguments are typed Any on purpose: every server types them in its own words
    # (hypercorn's serve() and Quart as TypedDicts), and the guard must fit wherever the app
    # it wraps fits. Inside, they are the package's own aliases.
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve one ASGI call: a WebSocket through the thin async shell around its
        :class:`Connection`, every other scope straight to the app.

        The shell runs in this call's own frame, not in a coroutine of its own: an open
        connection holds one coroutine of the guard's, not two. Every await of the guard, and
        what a cancellation there does:

        1. ``receive()`` and ``send()`` on behalf of the app (the hot path, the app's accept,
           close and denial messages): the cancellation is the app's; it propagates.
        2. The close or the HTTP answer the guard sends once the app returned, and the wait
           for the client's close after it: the cancellation propagates at once.
        3. The same after the app raised: the wait stops at once and the app's own exception
           escapes (``reraise=True``), never the cancellation.
        4. The 1012 close sent when the server cancels the app of an open connection: shielded
           and bounded by ``_SHUTDOWN_CLOSE_TIMEOUT``; a further cancellation propagates.
        5. An async ``on_close``: awaited; after a cancellation it runs detached instead, so
           nothing waits, and the record is still delivered.
        6. The 1012 close of a connection accepted while a drain runs, sent in the app's task
           right after the accept: as 1. A drain's close of an open connection runs in the
           drain's task (``_close_for_drain``), bounded there; it never awaits in this one.
        7. The accept and the close of a refusal answered with a close (``refuse_with="close"``),
           and the wait for the client's close after them: as 1 when the app sent the close
           itself, as 2 after a return before accept, as 3 after a crash before accept.
        """
        if scope["type"] != "websocket":
            if scope["type"] == "lifespan" and self.on_close is not None:
                await self.app(scope, self._watch_for_shutdown(receive), send)
            else:
                await self.app(scope, receive, send)
            return
        if GUARD_SCOPE_KEY in scope:
            await self._step_aside(scope, receive, send)
            return
        scope[GUARD_SCOPE_KEY] = self
        app = self.app
        if self.drain is not None and self.drain.draining:
            # A new WebSocket while draining: accepted and closed with 1012 at once (see
            # _opened), never handed to the app and never refused with HTTP, which a browser
            # cannot read: its client reconnects to another instance.
            app = _accept_only
        connection = Connection(self._policy, scope.get("path", ""), scope)
        if self._open_connections is not None:
            self._open_connections[connection] = scope
        guarded_receive, guarded_send = self._guarded_ends(connection, receive, send)
        reraising = False
        try:
            try:
                await app(scope, guarded_receive, guarded_send)
            except Exception as exc:
                reraising = await self._end_after_exception(
                    connection, exc, receive=receive, send=send, scope=scope
                )
                if reraising:
                    raise
            except BaseException as exc:
                ended_by = None if is_cancellation(exc) else type(exc)
                await self._end_after_cancellation(connection, ended_by, send)
                raise
            else:
                await self._end_after_return(connection, receive, send)
        except BaseException as exc:
            if is_cancellation(exc):
                connection.interrupted = True
            raise
        finally:
            if self.drain is not None:
                self.drain._ended(connection)
            await self._finish(connection, reraising=reraising)

    async def _step_aside(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Another guard already serves this connection: one close and one record, its own."""
        if not self._warned_twice:
            self._warned_twice = True
            logger.warning(
                "CloseGuardMiddleware is installed twice around %s: the inner guard steps "
                "aside and the outer one's options apply. Install it once, and give it every "
                "on_close (on_close=[metrics, telemetry])",
                scope.get("path", "a WebSocket"),
            )
        await self.app(scope, receive, send)

    def _guarded_ends(
        self, connection: Connection, receive: Receive, send: Send
    ) -> tuple[Receive, Send]:
        """The ``receive`` and ``send`` the app is given: the hot path.

        Every message of every connection passes here, so each check is one the contract
        needs (docs/performance.md weighs them): ``receive()`` after the end hands out the
        close without asking the server; the flag for a read in flight, which the wait for the
        client's close needs; ``send()`` when not open raises. Messages are counted only when a
        record will be handed to someone.
        """
        counting = self._open_connections is not None

        async def guarded_receive() -> Message:
            if connection.ended is not None:
                return dict(connection.ended)
            connection.reading = True
            try:
                message = await receive()
            finally:
                connection.reading = False
            if message["type"] == "websocket.receive":
                if connection.ended is None or connection.accepted:
                    if counting:
                        connection.messages_received += 1
                    return message
                # refuse_with="close": the guard's accept let the client speak, but the app
                # refused the connection and never hears from it. A read that was in flight
                # gets the refusal's close.
                return dict(connection.ended)
            return _incoming(connection, message)

        async def guarded_send(message: Message) -> None:
            if message["type"] == "websocket.send":
                if connection.state is not _OPEN:
                    connection.check_open_for("websocket.send")
                if counting:
                    connection.messages_sent += 1
                try:
                    await send(message)
                except OSError:
                    # ASGI 2.4: the client is gone. The server's own exception goes on to the
                    # app unchanged (uvicorn logs nothing for its ClientDisconnected, and would
                    # log any other); the next send raises WebSocketClosedError.
                    connection.send_failed()
                    raise
                return
            await self._send_control(connection, receive, send, message)

        return guarded_receive, guarded_send

    async def _send_control(
        self, connection: Connection, receive: Receive, send: Send, message: Message
    ) -> None:
        """Everything the app sends but ``websocket.send``: accept, close, denial messages."""
        kind = message["type"]
        if kind == "websocket.close":
            outgoing = connection.close_requested(message)
            if outgoing is not None:
                await self._send_after_handshake(connection, receive, send, outgoing, fallback=True)
            return
        connection.check_open_for(kind)
        if kind == "websocket.http.response.start":
            connection.denial_started(message.get("status"))
        await send(message)
        if kind == "websocket.accept":
            connection.accept_sent()
            if self._watches_accepts and self._opened(connection, send, connection.scope or {}):
                await self._close_for_drain(connection, send)
        elif kind == "websocket.http.response.body":
            connection.denial_body_sent(message.get("more_body", False))

    def _opened(self, connection: Connection, send: Send, scope: Scope) -> bool:
        """The accept went out: tell the integrations, register the connection with the drain.
        Return whether the drain has started, and the connection must be closed at once."""
        if self._open_hooks:
            route = route_template(scope)
            for hook in self._open_hooks:
                try:
                    hook(route)
                except Exception:
                    logger.exception("connection_opened of %r raised", hook)
        if self.drain is None:
            return False
        close_now = functools.partial(self._close_for_drain, connection, send)
        return self.drain._opened(connection, close_now, self.close_timeout)

    async def _close_for_drain(self, connection: Connection, send: Send) -> None:
        """Close an open connection with 1012 for the drain (4012 where the server refuses
        1012). The app's pending ``receive()`` gets this close once the client answers it."""
        outgoing = connection.drained()
        if outgoing is not None:
            await self._send_for_app(connection, send, outgoing, fallback=True)

    async def _await_client_close(self, connection: Connection, receive: Receive) -> None:
        """Once a close went out, wait for the client's, ``close_timeout`` seconds at most.

        RFC 6455 §7.1.1: after an endpoint has sent and received a close frame, the server
        closes the TCP connection. hypercorn 0.18 drops it as soon as the app returns; a client
        that still had a message in flight then gets a TCP reset, and a browser reports 1006
        instead of the close it was sent. Holding the app's call until the client's close is in
        completes the handshake. Whatever the client still sends is dropped: the app is done.
        """
        if connection.state is not State.CLOSING or not self.close_timeout:
            return
        if connection.reading:
            # A read in another task will get the client's close: wait for it to arrive there
            # rather than read beside it (servers refuse a second read). Whether one is in
            # flight is read now, when the wait begins.
            waiter = connection.waiter = new_event()
            answered = await within(self.close_timeout, waiter.wait)
        else:

            async def read_until_disconnect() -> None:
                try:
                    while connection.state is State.CLOSING:
                        message = await receive()
                        if message["type"] == "websocket.disconnect":
                            connection.disconnect_received(message)
                except Exception as exc:  # a server whose receive fails after the close
                    # The type only: the error may carry what the app's own exception carried.
                    logger.debug("stopped waiting for the client's close: %s", type(exc).__name__)

            answered = await within(self.close_timeout, read_until_disconnect)
        if not answered:
            logger.debug("the client did not answer the close within %s s", self.close_timeout)

    async def _end_after_return(
        self,
        connection: Connection,
        receive: Receive,
        send: Send,
    ) -> None:
        """The app returned: close for it if it did not, then wait for the client's close."""
        if cancel_requested():
            # The app swallowed the server's cancellation and returned: still a shutdown.
            await self._end_after_cancellation(connection, None, send)
            return
        outgoing = connection.returned()
        if outgoing is not None:
            await self._send_after_handshake(connection, receive, send, outgoing, fallback=True)
        await self._await_client_close(connection, receive)

    async def _end_after_exception(
        self,
        connection: Connection,
        exc: Exception,
        *,
        receive: Receive,
        send: Send,
        scope: Scope,
    ) -> bool:
        """The app raised ``exc``: close or answer for it; return whether to re-raise it.

        Nothing here may replace the app's exception: not a server's error on send (the
        guard's sends swallow those), not a cancellation that lands while the guard closes or
        waits for the client's close (the wait stops and the app's exception escapes).
        """
        if connection.is_echo_of_the_close(exc):
            # Starlette's WebSocketDisconnect only echoes the client leaving: not an error, so
            # no traceback in the server's log.
            logger.debug("the %s ended %s: %r", connection.closed_by, connection.path, exc)
            return False
        # After accept, or before it with refuse_with="close", the crash is answered with a close
        # frame: the guard waits for the client's close, and `reraise` applies.
        was_open = connection.closes_for_a_crash
        can_answer_http = _DENIAL_EXTENSION in (scope.get("extensions") or {})
        try:
            for outgoing in connection.raised(exc, can_answer_http=can_answer_http):
                # A server that refuses the code (daphne 4.2.3 takes only 1000 and 3000-4999)
                # gets the exception re-raised instead, and then sends 1011 itself. Only when
                # the exception stops here does the guard fall back to another code.
                await self._send_after_handshake(
                    connection, receive, send, outgoing, fallback=not self.reraise
                )
            if was_open:
                await self._await_client_close(connection, receive)
        except BaseException as interruption:
            if not is_cancellation(interruption):
                raise
            connection.interrupted = True
            logger.debug("cancelled while closing for %s", type(exc).__name__)
            if not self.reraise:
                self._log_app_exception(connection, exc)
                raise
            return True
        if self.reraise or not was_open:
            return True
        self._log_app_exception(connection, exc)
        return False

    def _log_app_exception(self, connection: Connection, exc: Exception) -> None:
        logger.error(
            "WebSocket handler for %s raised; %s",
            connection.path,
            "the client was gone" if connection.code is None else f"closed with {connection.code}",
            exc_info=exc,
        )

    async def _end_after_cancellation(
        self, connection: Connection, ended_by: type[BaseException] | None, send: Send
    ) -> None:
        """The app was cancelled (``ended_by`` is ``None``), or ``KeyboardInterrupt`` or
        ``SystemExit`` ended it."""
        outgoing = connection.cancelled(ended_by)
        if outgoing is None:
            return

        async def send_restart() -> None:
            await self._send_for_app(connection, send, outgoing, fallback=True)

        # hypercorn cancels the app at its graceful timeout and daphne at once, then drop the
        # socket: the close has to go out now, and the task must still end promptly.
        await shielded(_SHUTDOWN_CLOSE_TIMEOUT, send_restart)

    async def _send_after_handshake(
        self,
        connection: Connection,
        receive: Receive,
        send: Send,
        message: Message,
        *,
        fallback: bool,
    ) -> None:
        """:meth:`_send_for_app`, after the accept a refusal owes (``refuse_with="close"``)."""
        accept = connection.take_owed_accept()
        if accept is None or await _accept_for_refusal(connection, accept, receive, send):
            await self._send_for_app(connection, send, message, fallback=fallback)

    async def _send_for_app(
        self, connection: Connection, send: Send, message: Message, *, fallback: bool
    ) -> None:
        """Send a message the guard decided on; the server's errors never reach the app."""
        if message["type"] != "websocket.close" or connection.state is State.REFUSED:
            # A denial message, or a close before accept that the server answers with HTTP 403.
            await _send_quietly(send, message)
            return
        asked = message["code"]
        connection.close_delivered(asked, await _deliver_close(send, message, fallback))

    async def _finish(self, connection: Connection, *, reraising: bool) -> None:
        """Hand the connection's one record to ``on_close``, once."""
        # A connection leaves the open ones when it is reported: once, whichever comes first,
        # its own end or the lifespan shutdown.
        if self._open_connections is None:
            return
        scope = self._open_connections.pop(connection, None)
        if scope is None:
            return
        try:
            # Python 3.10 has no Task.cancelling(): what the guard saw itself counts too.
            wait = not (connection.interrupted or cancel_requested())
            await self._report(connection.record(route=route_template(scope)), wait=wait)
        except BaseException as exc:
            # A cancellation while an async on_close runs never replaces the app's exception.
            if not (reraising and is_cancellation(exc)):
                raise

    def _watch_for_shutdown(self, receive: Receive) -> Receive:
        """Wrap the lifespan scope's ``receive`` to report abandoned connections.

        granian drops the sockets at shutdown without telling the app or ever resuming its
        handlers: their connections would leave no record. The lifespan shutdown is the last
        moment the guard hears of: every connection still open then is reported as ended by
        the server.
        """

        async def lifespan_receive() -> Message:
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                await self._report_abandoned()
            return message

        return lifespan_receive

    async def _report_abandoned(self) -> None:
        for connection in list(self._open_connections or ()):
            connection.abandoned()
            await self._finish(connection, reraising=False)

    async def _report(self, record: CloseRecord, *, wait: bool = True) -> None:
        for on_close in self.on_close or ():
            try:
                result = on_close(record)
                if not hasattr(result, "__await__"):
                    continue
                if wait:
                    await result
                else:
                    detach(result, f"on_close callback {on_close!r}")
            except Exception:
                logger.exception("on_close callback %r raised", on_close)


def _validate_refuse_with(value: object) -> RefuseWith:
    """``"http"`` or ``"close"``; anything else is a ``ValueError`` that names both."""
    if isinstance(value, str) and value in ("http", "close"):
        return "http" if value == "http" else "close"  # a str subclass becomes the plain str
    raise ValueError(
        'refuse_with must be "http" (the default: HTTP 403 or 500 before accept, which a '
        'browser cannot read) or "close" (accept, then close with the code), not '
        f"{value!r}"
    )


async def _accept_only(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the app while a drain runs: accept (with the first subprotocol the client
    offered, see :func:`accept_message`), so that the close can follow."""
    if (await receive())["type"] != "websocket.connect":
        return  # the client left during the handshake
    await send(accept_message(scope))


async def _accept_for_refusal(
    connection: Connection, accept: Message, receive: Receive, send: Send
) -> bool:
    """``refuse_with="close"``: send ``accept``, which the guard owes before the refusal's
    close. Return whether the close may follow."""
    if not connection.connect_seen:
        # The app refused without reading the handshake (Starlette's close() before accept does
        # not read it). ASGI hands over websocket.connect first, and granian 2.8 panics, and its
        # worker exits, on a receive() after the close while that message is still unread: the
        # guard's wait for the client's close does one. Read it now, as an accepting app would.
        try:
            message = await receive()
        except Exception as exc:
            logger.debug("could not read the handshake before a refusal: %r", exc)
            connection.refusal_accept_failed()
            return False
        if message["type"] == "websocket.disconnect":
            connection.left_before_the_refusal(message)
            return False
        connection.connect_received()
    if not await _send_quietly(send, accept):
        # The handshake's answer did not go out, so no close can.
        connection.refusal_accept_failed()
        return False
    return True


def _incoming(connection: Connection, message: Message) -> Message:
    """What ``receive()`` hands the app for a server message other than ``websocket.receive``."""
    if message["type"] != "websocket.disconnect":
        connection.connect_received()  # the handshake's websocket.connect, read
        return message
    # Also the answer to the app's close, reaching a read that was in flight when the close
    # went out: the connection turns it into the close that was sent.
    delivered = connection.disconnect_received(message)
    if connection.waiter is not None and connection.state is State.CLOSED:
        connection.waiter.set()
    return delivered


async def _send_quietly(send: Send, message: Message) -> bool:
    """Send a message of the guard's own; return whether the server took it. The server's
    error is logged, never raised: it must not replace what the app did."""
    try:
        await send(message)
    except Exception as exc:
        logger.debug("could not send %s: %r", message["type"], exc)
        return False
    return True


async def _deliver_close(send: Send, message: Message, fallback: bool) -> int | None:
    """Send a close and return the code the server took (``None``: it took none).

    A server's refusal or a vanished client never escapes from here. A refused code is retried
    once with :func:`fallback_code` when ``fallback`` is on.
    """
    code: int = message["code"]
    try:
        await send(message)
    except OSError as exc:
        # The client is gone (uvicorn raises ClientDisconnected): nothing to close.
        logger.debug("close %d not sent, the connection is gone: %r", code, exc)
        return None
    except Exception as exc:
        substitute = fallback_code(code)
        if not fallback or substitute == code:
            logger.debug("the server refused close %d: %r", code, exc)
            return None
        # daphne 4.2.3 (autobahn's sendClose) takes only 1000 and 3000-4999: any other code
        # raises a bare Exception, and the socket then stays open until daphne's 24-hour
        # websocket_timeout. The fallback keeps what the code tells the client about
        # reconnecting: 1012 goes out as 4012, never as 1000.
        logger.warning(
            "the server refused close code %d (%r); closed with %d instead", code, exc, substitute
        )
        return await _deliver_close(send, {**message, "code": substitute}, fallback=False)
    return code
