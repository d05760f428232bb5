"""The prose of ``docs/frameworks.md``: everything on the page that no cell observes.

The statements here that a run could contradict are checked elsewhere: the setup snippets and
what they promise by ``test_setup.py``, the test clients by ``test_clients.py``, and every close
code the Channels section names for daphne by ``test_page.py``.
"""

from __future__ import annotations

SETUP = """\
Each framework has one form to lead with, in its own idiom: the plugin or extension where the
framework has that idea, and the app served as the framework serves apps.

FastAPI and Starlette take the middleware itself: `app.add_middleware(CloseGuardMiddleware)`.

**Litestar** (`pip install litestar`): the plugin. The app stays the object `litestar run`
serves.

```python
from asgi_closeguard.frameworks.litestar import CloseGuardPlugin

app = Litestar(route_handlers=[...], plugins=[CloseGuardPlugin()])
```

For an app built elsewhere, `guard(app)` does the same to the app object and returns it (`app =
guard(create_app())`), so `litestar run` and `uvicorn app:app` serve it guarded. The plugin puts
the guard in every route; `guard(app)` puts it around Litestar's router, so a path with no route
has a record too.

**Quart** (`pip install quart`): the extension. The Quart app stays the object `quart run` and
`hypercorn app:app` serve.

```python
from asgi_closeguard.frameworks.quart import CloseGuard

CloseGuard(app)  # or: close_guard = CloseGuard(); close_guard.init_app(app)
```

`guard(app)` is the same in one call, and returns `app`.

**Falcon** (`pip install falcon`), **BlackSheep** (`pip install blacksheep`) and **Django
Channels** (`pip install channels`): serve what `guard()` returns. Their app objects are their
own ASGI callables, so the guard can only be around them.

```python
from asgi_closeguard.frameworks.falcon import guard

app = falcon.asgi.App()
asgi_app = guard(app)  # serve asgi_app: uvicorn main:asgi_app
```

```python
from asgi_closeguard.frameworks.blacksheep import guard

app = Application()
asgi_app = guard(app)  # serve asgi_app
```

```python
from asgi_closeguard.frameworks.channels import guard

application = guard(ProtocolTypeRouter({"websocket": URLRouter(websocket_urlpatterns)}))
```

Served without what `guard()` returned, a Falcon or BlackSheep app keeps its framework's own
behaviour, and the adapter logs one warning at the app's first WebSocket connection that says
what to serve. A Channels application is untouched by `guard()`: served alone, it is simply not
guarded.

What every adapter has in common:

- **Options**: every `guard()`, `CloseGuardPlugin()` and `CloseGuard()` takes
  `CloseGuardMiddleware`'s keyword options, typed once as `GuardOptions`: a misspelt option
  (`on_clos=`) fails `mypy --strict`, and every framework's app type-checks where it is passed
  (`CloseGuardMiddleware(quart_app)`, `hypercorn.asyncio.serve(guard(quart_app), Config())`).
  The guard checks their values when it is built.
- **The framework reports, the guard closes**: the framework's own exception handling — its
  log line, its hooks and signals — runs as without the guard, once; the guard replaces only
  the framework's answer (its close, or its refusal before accept) and keeps the record.
- **Once**: two guards around one connection — both forms together, an adapter twice, or
  `CloseGuardMiddleware` around an app that already has its adapter — act as one: the outer
  guard serves with its options, the inner one steps aside and logs one warning that the guard
  is installed twice. One close, one record, no traceback of the guard's own. The one form that
  cannot hand the exception on to a plain guard outside the app is Litestar's plugin (its guard
  sits under Litestar's app-wide exception handler): there Litestar closes its own way, 4500.
- **The wrong app** is a `TypeError` that names the adapter to use
  (`asgi_closeguard.frameworks.litestar.guard() takes a Litestar app, not quart.app.Quart: use
  its own adapter: from asgi_closeguard.frameworks.quart import guard`).
- **The record's `route`** is the framework's own template: Litestar's path template, Quart's
  URL rule, Falcon's URI template, BlackSheep's route pattern, the Channels URL route patterns
  joined as its nested `URLRouter`s join them, never a raw path value.
- `import asgi_closeguard` imports no framework; each adapter imports its framework when it is
  used, and says which package to install when it is missing.
"""

HOW = """\
Litestar, Quart, Falcon and BlackSheep catch a handler's exception, report it their own way and
then answer it themselves. Behind the adapter the reporting runs exactly as without the guard —
the framework's log line, its hooks and signals (Litestar's `after_exception` hooks in the order
the app and its plugins put them, every receiver of Quart's `got_websocket_exception`), once —
and only the answer is the guard's. The framework's own hook marks the exception: Litestar's
`after_exception` hook, Quart's `got_websocket_exception` signal, Falcon's error handler for
`Exception` (the adapter wraps the one registered before, which still runs), and in BlackSheep,
which has no hook for WebSocket errors, a wrapper around each WebSocket route's handler once the
app has started. The framework's answer to it — its close (Litestar's 4500, Quart's 1000,
Falcon's 1011, BlackSheep's 1011 with `str(exc)`), or its refusal before accept — goes through a
thin ASGI layer under the guard, which hands the exception to the guard instead: 1011 (or the
mapped code) after accept, HTTP 500 before, and the record names the exception. The framework
has reported it, so the guard gives it back rather than re-raise it to the server: the server
logs nothing more, as without the guard (with `reraise=False` the guard adds its own log line,
as for any app).

Before accept, on a server without the denial response (`websocket.http.response`: daphne, some
test clients), the guard cannot answer HTTP 500 itself: the exception goes on to the server,
which answers 500 — except under Litestar's plugin, whose guard sits in each route under
Litestar's app-wide exception handler, which would handle the exception a second time: there
Litestar's own refusal stays.

Served without that layer, the same app keeps the framework's own behaviour. Django Channels
needs no hook: a consumer's exception already reaches the guard, which re-raises it to the
server, as without the guard. HTTP is untouched everywhere (Quart's signal is sent for WebSocket
connections only; Falcon's HTTP errors still go to the handler that was registered before).
"""

OWN_NOTES = """\
- **The framework's own exceptions stay the framework's.** They are how an app chooses a close,
  so the adapters leave them alone and the record says `closed_by="app"`, as with FastAPI's
  `WebSocketException`: Litestar's `WebSocketException` closes with its code and detail (an
  `HTTPException` below 500, such as `NotAuthorizedException` from a guard, keeps Litestar's
  4500 with its detail, a 403 before accept); Falcon's `HTTPError` and `HTTPStatus` close with
  3000 + the status (`HTTPForbidden`: 3403); Quart's `abort()` and every `HTTPException` go
  through Quart's error handlers as for HTTP, so `abort(403)` after accept closes with Quart's
  1000; Channels' `DenyConnection` is a 403. BlackSheep has no WebSocket exception of its own;
  its `WebSocketDisconnectError` (the client left) stays BlackSheep's.
- **A path with no route** gets the framework's own refusal, an HTTP status (see the last row
  of the table): Litestar closes it before accept, which the server answers with HTTP 403.
  Under Litestar's plugin the guard is in the routes only, so such a connection has no record;
  `guard(app)` records it.
- **After a handler returns**, Quart and Falcon close with 1000 themselves (Falcon with the
  reason "Normal Closure"); for the others the guard sends 1000.
- **Falcon**: call `guard()` after `add_error_handler(Exception, ...)`, if the app has one: HTTP
  errors go on to it, and a handler for `Exception` added later would replace the adapter's.
- **Litestar's plugin before accept, on a server without the denial response** (daphne,
  Litestar's own `TestClient`): Litestar's own refusal stays (4500 in the test client, HTTP 403
  from the server); `guard(app)` makes it an HTTP 500.
"""

CHANNELS = """\
daphne, Channels' own server (`daphne` and `runserver` with daphne installed), keeps a smaller
promise than uvicorn, whatever the app; each difference is in the table above:

- **Mapped codes arrive as 1011.** The guard re-raises the consumer's exception (`reraise=True`,
  the default) and daphne then closes with its own 1011, a mapped `TimeoutError` too.
- **With `reraise=False`** the guard closes itself, and daphne refuses every code outside 1000
  and 3000-4999: the guard falls back to the private-use code with the same last three digits,
  which keeps what the code tells a client about coming back. A mapped 1013 arrives as 4013, an
  unmapped crash's 1011 as 4011.
- **A code that may not be sent** (`close(1006)`) is replaced with 1011 as everywhere, which
  daphne refuses: it arrives as 4011.
- **Reasons are dropped**: daphne sends no close reason, ever; the record keeps the one the
  consumer gave.
- **The client's close** is answered with 1000 and no reason, whatever code the client sent.
- **A handler that returns** leaves the socket open without the guard (daphne's 24-hour
  `websocket_timeout`); behind it, the client gets 1000.
- **At `SIGTERM`** daphne cancels every handler at once, and behind the guard the clients get
  4012 (daphne refuses 1012), except right after a handshake: daphne 4.2.3's shutdown hook then
  fails before it cancels anything, and no close frame goes out at all
  ([deploying.md](deploying.md); `test_daphne_cancels_at_once_and_the_guard_falls_back_to_4012`,
  `test_daphne_with_a_request_in_progress_cancels_nothing`).
"""

TESTS_INTRO = """\
What a handler that raises `RuntimeError` shows in each framework's own test client and log,
without the guard and behind the form this page leads with, and the one line a test of that
changes. The framework's own log line stays, once, and the server logs nothing more; Channels,
which lets the exception through, gets the server's traceback either way. (`test_clients.py`
runs each one; the server's log is checked on uvicorn.) Quart 0.23, which needs Python 3.13,
changed its test client: the app's close ends the app's side only and never reaches the test's
`receive()`, which then waits, with the guard or without; bound it (`asyncio.wait_for`) and check
the log or the record instead.
"""

SOCKETIO = """\
## python-socketio

`socketio.ASGIApp` runs each event handler in a task of its own: an exception in a handler is
logged by asyncio ("Task exception was never retrieved") and never reaches ASGI; the connection
stays open and the next event is answered. No hook hands it on, so there is no adapter: nothing
the guard could do would turn a handler's exception into a close. Behind
`CloseGuardMiddleware(socketio.ASGIApp(sio))` the guard does for engine.io's WebSocket transport
what it does for any app — engine.io's own closes go out right and one record is kept per
WebSocket connection, with the transport's close and who closed it, never a handler's
exception (the suite checks both: a handler raises, the next event is answered, the client
closes 4001 'bye' and the record says `client 4001 'bye'`, no exception). Report a handler's
errors the Socket.IO way: catch them in the handler and emit an error event, or `disconnect()`
the client.
"""
