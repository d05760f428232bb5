"""Setting each framework up as its own users do: the form the docs lead with, the other form,
both together, an app given to the wrong adapter, and the app object served without what
``guard()`` returned. In process, through the in-memory server of ``tests/harness.py``.
"""

# No `from __future__ import annotations`: BlackSheep and Litestar read the handlers'
# annotations at run time, and the handlers here are defined inside the tests.
import logging
from collections.abc import Callable
from typing import Any

import pytest

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from tests.frameworks import apps
from tests.harness import run

pytestmark = pytest.mark.anyio

TWICE = "installed twice"


def _errors_and_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "asgi_closeguard" and record.levelno >= logging.WARNING
    ]


# --- Litestar: its exception handling runs once, as without the guard -------------------------


def _litestar(form: str, seen: list[str], records: list[CloseRecord]) -> Any:
    """A Litestar app with a user's ``after_exception`` hook, a later plugin's hook and
    Litestar's exception log on, set up in ``form``."""
    from litestar import Litestar, WebSocket, websocket
    from litestar.config.app import AppConfig
    from litestar.logging.config import LoggingConfig

    from asgi_closeguard.frameworks.litestar import CloseGuardPlugin, guard

    @websocket("/crash")
    async def crash(socket: WebSocket) -> None:
        await socket.accept()
        raise RuntimeError(apps.SECRET)

    @websocket("/crash-before-accept")
    async def crash_before_accept(socket: WebSocket) -> None:
        raise RuntimeError(apps.SECRET)

    async def users_hook(exc: Exception, scope: Any) -> None:
        seen.append(f"the user's hook: {type(exc).__name__}")

    async def later_plugins_hook(exc: Exception, scope: Any) -> None:
        seen.append(f"a later plugin's hook: {type(exc).__name__}")

    class LaterPlugin:
        def on_app_init(self, app_config: AppConfig) -> AppConfig:
            app_config.after_exception = [*app_config.after_exception, later_plugins_hook]
            return app_config

    def litestars_log(logger: Any, scope: Any, lines: list[str]) -> None:
        seen.append("Litestar's exception log")

    options: dict[str, Any] = {"on_close": records.append}
    guard_plugin = [CloseGuardPlugin(**options)] if form in ("plugin", "both") else []
    app = Litestar(
        route_handlers=[crash, crash_before_accept],
        after_exception=[users_hook],
        plugins=[*guard_plugin, LaterPlugin()],
        logging_config=LoggingConfig(
            log_exceptions="always",
            exception_logging_handler=litestars_log,
            configure_root_logger=False,
        ),
    )
    return guard(app, **options) if form in ("guard", "both") else app


ONCE = [
    "Litestar's exception log",
    "the user's hook: RuntimeError",
    "a later plugin's hook: RuntimeError",
]


@pytest.mark.parametrize("form", ["raw", "plugin", "guard", "both"])
@pytest.mark.parametrize("path", ["/crash", "/crash-before-accept"])
async def test_litestars_exception_handling_runs_once_in_its_order_as_without_the_guard(
    form: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    records: list[CloseRecord] = []
    outcome = await run(_litestar(form, seen, records), path=path, records=records)
    assert seen == ONCE
    assert outcome.exception is None  # Litestar's to report, and it has: no server traceback
    if form == "raw":
        assert [m["code"] for m in outcome.server.closes()] == [4500]
        return
    record = outcome.record  # exactly one, also with both forms
    assert record.exception is RuntimeError
    if path == "/crash":
        assert outcome.server.closes() == [
            {"type": "websocket.close", "code": 1011, "reason": "Internal Error"}
        ]
    else:
        assert (outcome.server.denial_status(), record.http_status) == (500, 500)
    warnings = _errors_and_warnings(caplog)
    assert [TWICE in message for message in warnings] == ([True] if form == "both" else [])


async def test_litestar_without_the_denial_response_before_accept() -> None:
    """A server without ``websocket.http.response`` (daphne, Litestar's TestClient): the guard
    cannot answer 500 itself. ``guard(app)`` lets the exception reach the server, which
    answers 500; under the plugin it could reach it only through Litestar's app-wide handler,
    so Litestar's own refusal (403) stays."""
    for form, escaped, closes in (("guard", RuntimeError, []), ("plugin", None, [4500])):
        seen: list[str] = []
        records: list[CloseRecord] = []
        app = _litestar(form, seen, records)
        outcome = await run(app, path="/crash-before-accept", records=records, extensions=None)
        assert seen == ONCE, form
        assert type(outcome.exception) is (escaped or type(None)), form
        assert [m["code"] for m in outcome.server.closes()] == closes, form
        assert outcome.record.exception is escaped, form


async def test_litestar_both_forms_and_a_guard_around_them() -> None:
    """CloseGuardMiddleware around an app with guard(app): the outer guard serves and still
    gets the handler's exception (Litestar ran its handling once)."""
    seen: list[str] = []
    records: list[CloseRecord] = []
    app = CloseGuardMiddleware(_litestar("guard", seen, []), on_close=records.append)
    outcome = await run(app, path="/crash", records=records)
    assert seen == ONCE
    assert outcome.server.only_close() == (1011, "Internal Error")
    assert (outcome.record.closed_by, outcome.record.exception) == ("guard", RuntimeError)
    assert type(outcome.exception) is RuntimeError  # the outer guard re-raises, as for any app


async def test_litestar_plugin_inside_a_plain_guard_leaves_the_close_to_litestar() -> None:
    """The plugin's guard sits in each route, under Litestar's app-wide handler: with a plain
    guard outside Litestar it steps aside, and Litestar closes its own way, once."""
    seen: list[str] = []
    records: list[CloseRecord] = []
    app = CloseGuardMiddleware(_litestar("plugin", seen, []), on_close=records.append)
    outcome = await run(app, path="/crash", records=records)
    assert seen == ONCE
    assert outcome.server.only_close() == (4500, "Internal Server Error")
    assert (outcome.record.closed_by, outcome.record.exception) == ("app", None)


async def test_litestars_shutdown_reports_what_the_server_abandons() -> None:
    """Litestar runs its lifespan itself; its on_shutdown hook tells the guard."""
    from litestar import Litestar

    from asgi_closeguard.frameworks.litestar import CloseGuardPlugin, guard

    for form in ("plugin", "guard"):
        records: list[CloseRecord] = []
        plugins = [CloseGuardPlugin(on_close=records.append)] if form == "plugin" else []
        app = Litestar(plugins=plugins)
        if form == "guard":
            guard(app, on_close=records.append)
        shutdown = [hook for hook in app.on_shutdown if "shutdown" in repr(hook)]
        assert len(shutdown) == 1, form
        await shutdown[0]()  # nothing open: nothing reported, nothing raised
        assert records == []


# --- Both forms together, and an adapter inside a plain guard --------------------------------


def _quart(records: list[CloseRecord], form: str) -> Any:
    from asgi_closeguard.frameworks.quart import CloseGuard, guard

    app = apps.quart_app(False)
    if form in ("extension", "both"):
        CloseGuard(app, on_close=records.append)
    if form in ("guard", "both"):
        guard(app, on_close=records.append)
    if form == "inside a plain guard":
        return CloseGuardMiddleware(guard(app, on_close=[]), on_close=records.append)
    return app


def _inside_a_plain_guard(framework: str) -> Callable[[list[CloseRecord], str], Any]:
    def build(records: list[CloseRecord], form: str) -> Any:
        inner = apps.FRAMEWORKS[framework](True, {"on_close": []})
        return CloseGuardMiddleware(inner, on_close=records.append)

    return build


TWO_GUARDS = [
    ("quart", _quart, "both"),
    ("quart", _quart, "inside a plain guard"),
    ("falcon", _inside_a_plain_guard("falcon"), "inside a plain guard"),
    ("blacksheep", _inside_a_plain_guard("blacksheep"), "inside a plain guard"),
    ("channels", _inside_a_plain_guard("channels"), "inside a plain guard"),
]


@pytest.mark.parametrize(
    ("framework", "build", "form"), TWO_GUARDS, ids=[f"{f}-{form}" for f, _, form in TWO_GUARDS]
)
async def test_two_guards_act_as_one(
    framework: str, build: Any, form: str, caplog: pytest.LogCaptureFixture
) -> None:
    records: list[CloseRecord] = []
    app = build(records, form)
    if framework == "blacksheep":
        await app.app.app.app.app.start()  # inside the plain guard, the hand-back, the relay
    outcome = await run(app, path="/crash", records=records)
    assert outcome.server.only_close() == (1011, "Internal Error")
    assert (outcome.record.closed_by, outcome.record.exception) == ("guard", RuntimeError)
    # A plain guard outside re-raises it, as for any app; an adapter's hands it back to the
    # framework that reported it.
    escaped = RuntimeError if form == "inside a plain guard" or framework == "channels" else None
    assert type(outcome.exception) is (escaped or type(None))
    warnings = _errors_and_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert TWICE in warnings[0]


@pytest.mark.parametrize("form", ["extension", "guard"])
async def test_quarts_two_forms_are_one(form: str) -> None:
    records: list[CloseRecord] = []
    outcome = await run(_quart(records, form), path="/crash", records=records)
    assert outcome.server.only_close() == (1011, "Internal Error")
    assert outcome.record.exception is RuntimeError


# --- The app object itself, after guard(app) ---------------------------------------------------


@pytest.mark.parametrize("framework", ["litestar", "quart"])
async def test_guard_wires_the_app_object_itself(framework: str) -> None:
    """Litestar and Quart: guard(app) returns the app, and serving the app is serving it
    guarded (``litestar run`` and ``quart run`` serve the app object)."""
    import importlib

    adapter = importlib.import_module(f"asgi_closeguard.frameworks.{framework}")
    app = apps.FRAMEWORKS[framework](False)
    records: list[CloseRecord] = []
    assert adapter.guard(app, on_close=records.append) is app
    outcome = await run(app, path="/crash", records=records)
    assert outcome.server.only_close() == (1011, "Internal Error")
    assert outcome.record.exception is RuntimeError


@pytest.mark.parametrize(
    ("framework", "close"),
    [
        ("falcon", (1011, "Internal Server Error")),
        ("blacksheep", (1011, f"{apps.SECRET} crash ")),
    ],
)
async def test_served_without_what_guard_returned_the_app_is_the_frameworks_and_says_so(
    framework: str, close: tuple[int, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Falcon and BlackSheep apps are their own ASGI callables: the guard can only be around
    them. Served bare after guard(app), the app keeps its framework's ways, and one warning
    says what to serve."""
    import importlib

    adapter = importlib.import_module(f"asgi_closeguard.frameworks.{framework}")
    app = apps.FRAMEWORKS[framework](False)
    guarded = adapter.guard(app)
    assert guarded is not app
    if framework == "blacksheep":
        await app.start()
    for _ in range(2):
        outcome = await run(app, path="/crash")
        assert [(m["code"], m.get("reason")) for m in outcome.server.closes()] == [close]
    warnings = _errors_and_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "serve what guard() returned" in warnings[0]


async def test_channels_application_served_without_the_guard_is_channels() -> None:
    from asgi_closeguard.frameworks.channels import guard

    application = apps.channels_app(False)
    guard(application)
    outcome = await run(application, path="/crash")
    assert outcome.server.closes() == []  # Channels lets the exception escape, nothing more
    assert type(outcome.exception) is RuntimeError


# --- The wrong app -----------------------------------------------------------------------------


def _falcon_wsgi() -> Any:
    import falcon

    return falcon.App()


def _fastapi() -> Any:
    from fastapi import FastAPI

    return FastAPI()


WRONG_APPS = [
    ("litestar", lambda: apps.quart_app(False), "frameworks.quart import guard"),
    ("quart", lambda: apps.litestar_app(False), "frameworks.litestar import guard"),
    ("falcon", lambda: apps.blacksheep_app(False), "frameworks.blacksheep import guard"),
    ("falcon", _falcon_wsgi, "WSGI"),
    ("blacksheep", lambda: apps.channels_app(False), "frameworks.channels import guard"),
    ("channels", lambda: apps.falcon_app(False), "frameworks.falcon import guard"),
    ("channels", _fastapi, "app.add_middleware(CloseGuardMiddleware)"),
    ("litestar", lambda: apps.falcon_app(True), "not one already behind the guard"),
    ("quart", object, "takes a Quart app, not builtins.object"),
]


@pytest.mark.parametrize(
    ("adapter", "make_app", "says"),
    WRONG_APPS,
    ids=[f"{adapter}-{says.split()[0]}" for adapter, _, says in WRONG_APPS],
)
def test_an_app_given_to_the_wrong_adapter_names_the_right_one(
    adapter: str, make_app: Callable[[], Any], says: str
) -> None:
    import importlib

    module = importlib.import_module(f"asgi_closeguard.frameworks.{adapter}")
    with pytest.raises(TypeError, match=f"asgi_closeguard.frameworks.{adapter}.guard") as raised:
        module.guard(make_app())
    assert says in str(raised.value)
    if adapter == "quart":
        with pytest.raises(TypeError):
            module.CloseGuard(make_app())


# --- Served as the framework serves apps -------------------------------------------------------


@pytest.mark.parametrize("name", ["guarded", "with_plugin"])
def test_litestar_run_finds_the_guarded_app(name: str) -> None:
    """``litestar run`` loads the app object from ``module:name``: it must be a Litestar app,
    else Litestar takes it for a factory and calls it without arguments."""
    from litestar import Litestar
    from litestar.cli._utils import LitestarEnv

    env = LitestarEnv.from_env(f"tests.frameworks.served:{name}")
    assert isinstance(env.app, Litestar)
    assert not env.is_app_factory


async def test_every_receiver_of_quarts_signal_runs_and_quart_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error tracker on ``got_websocket_exception`` hears of every crash behind the guard,
    connected before the extension or after it (blinker calls receivers in no fixed order)."""
    from quart.signals import got_websocket_exception

    from asgi_closeguard.frameworks.quart import CloseGuard

    seen: list[str] = []

    async def before(sender: Any, *, exception: Exception, **extra: Any) -> None:
        seen.append(f"before: {type(exception).__name__}")

    async def after(sender: Any, *, exception: Exception, **extra: Any) -> None:
        seen.append(f"after: {type(exception).__name__}")

    app = apps.quart_app(False)
    got_websocket_exception.connect(before, sender=app, weak=False)
    records: list[CloseRecord] = []
    CloseGuard(app, on_close=records.append)
    got_websocket_exception.connect(after, sender=app, weak=False)
    with caplog.at_level(logging.ERROR):
        outcome = await run(app, path="/crash", records=records)
    assert sorted(seen) == ["after: RuntimeError", "before: RuntimeError"]
    assert outcome.server.only_close() == (1011, "Internal Error")
    assert outcome.exception is None
    quarts = [r for r in caplog.records if "Exception on websocket" in r.getMessage()]
    assert len(quarts) == 1


async def test_falcons_own_handler_for_exception_still_runs_on_websockets() -> None:
    import falcon.asgi

    from asgi_closeguard.frameworks.falcon import guard

    handled: list[str] = []

    class Crash:
        async def on_websocket(self, req: Any, ws: Any) -> None:
            await ws.accept()
            raise RuntimeError(apps.SECRET)

    async def report_and_close(
        req: Any, resp: Any, ex: Exception, params: Any, ws: Any = None
    ) -> None:
        handled.append(type(ex).__name__)
        if ws is not None:
            await ws.close(4500)  # the app's own answer: the guard's 1011 replaces it

    app = falcon.asgi.App()
    app.add_route("/crash", Crash())
    app.add_error_handler(Exception, report_and_close)
    records: list[CloseRecord] = []
    outcome = await run(guard(app, on_close=records.append), path="/crash", records=records)
    assert handled == ["RuntimeError"]
    assert outcome.server.only_close() == (1011, "Internal Error")
    assert outcome.record.exception is RuntimeError
