"""The demo app: scenarios raw and guarded, the close-code pages, the JSON API, live closes.

``demo_app.app:app`` is a ready-made instance; :func:`create_app` builds a fresh one (with its
own close log and Prometheus registry), which is what the tests use.

Routes:

- ``/raw/ws/<scenario>`` and ``/guarded/ws/<scenario>``: the same WebSocket handlers, without
  and with ``CloseGuardMiddleware`` (a plain ASGI wrapper around the guarded sub-app, with a
  ``Drain``); ``/guarded-close/ws/<scenario>``: the same again behind a guard that answers a
  refusal before accept with a close the browser can read (``refuse_with="close"``);
- ``POST /api/deploy?spread=3``: a deploy of both sides (see :mod:`demo_app.deploys`): every
  raw WebSocket gets 1012 in the same instant, as uvicorn sends at ``SIGTERM``; every guarded
  one gets 1012 at its own moment over ``spread`` seconds, from the guarded mount's ``Drain``,
  and a fresh guard then serves the mount (the new instance);
- ``/``: the playground, the live-close panel and the reference table of every code;
- ``/js/closeguard.js``: the module ``asgi-closeguard export-js`` prints, built from the package
  when the app starts with the demo's own codes (:data:`demo_app.codes.APP_CODES`) baked in; the
  playground explains every close with it and reconnects with its ``connect()``;
- ``/codes/{code}``, ``/compare/{a}/{b}``: one code, or two side by side, as HTML;
- ``/api/codes``, ``/api/codes/{code}``, ``/api/compare/{a}/{b}``: the same as JSON;

every one of them answers with the demo's own words for the codes it declares (4001, 4029,
4401: see :mod:`demo_app.codes`).
- ``/api/closes``: the guard's last 100 close records and counts by code; ``/metrics``: every
  guarded close for Prometheus, counted by ``asgi_closeguard.prometheus.CloseMetrics``.

Every page and API route takes ``?lang=`` (one of the knowledge texts' languages, ``en`` by
default). An unknown language is an error (422), not a silent fallback, so a typo in a link
shows up. A code that is not an integer is a 422; an integer outside 0-65535, the numbers a close
frame can carry, is a 404.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from asgi_closeguard import (
    LANGUAGES,
    CloseCode,
    CloseGuardMiddleware,
    CloseRecord,
    CodeComparison,
    CodeDescription,
    Drain,
    RangeDescription,
    __version__,
    compare,
    describe,
    describe_range,
)
from asgi_closeguard._codes import CODE_RANGES
from asgi_closeguard._export_js import export_js
from asgi_closeguard._knowledge import interface_texts, validate_language
from asgi_closeguard.prometheus import CloseMetrics

from .chrome import LANGUAGE_NAMES, chrome
from .closes import CloseLog
from .codes import APP_CODES
from .deploys import DeployInProgressError, Deploys, Redeployable, ServerStop
from .scenarios import EXCEPTION_CODES, SCENARIOS, scenario_router

__all__ = [
    "DEPLOY_CLIENTS",
    "DEPLOY_SPREAD",
    "FIRST_CODE",
    "LAST_CODE",
    "MAX_DEPLOY_SPREAD",
    "app",
    "create_app",
]

_HERE: Final = Path(__file__).resolve().parent
TEMPLATES_DIRECTORY: Final = _HERE / "templates"
STATIC_DIRECTORY: Final = _HERE / "static"

#: A close frame carries its code in two bytes: these are the only numbers a page exists for.
FIRST_CODE: Final = 0
LAST_CODE: Final = 65535

#: Pairs the home page offers to compare: the ones people mix up most.
CONFUSED_PAIRS: Final[tuple[tuple[int, int], ...]] = (
    (1006, 1011),
    (1005, 1006),
    (1000, 1001),
    (1011, 1013),
)

#: The scenario the playground marks "start here".
FIRST_SCENARIO: Final = "crash"

#: Every code with a meaning of its own: the registered ones and the demo's, in numeric order.
_CODE_NUMBERS: Final[tuple[int, ...]] = tuple(sorted({*map(int, CloseCode), *APP_CODES}))

#: The spread of a deploy's drain when the request names none, and the longest one it may ask
#: for: a deploy holds the guarded side for that long, and a demo is shared by its visitors.
DEPLOY_SPREAD: Final = 3.0
MAX_DEPLOY_SPREAD: Final = 30.0
#: How many clients the deploy card opens on each side.
DEPLOY_CLIENTS: Final = 6

#: Where the page's JavaScript imports the close-code module from.
CLOSEGUARD_JS_PATH: Final = "/js/closeguard.js"
JAVASCRIPT: Final = "text/javascript; charset=utf-8"


class CodeList(BaseModel):
    """Every registered close code and the demo's own, in numeric order, and every band of
    numbers, in one language."""

    lang: str
    codes: list[CodeDescription]
    ranges: list[RangeDescription]


class CloseRecordJSON(BaseModel):
    """One close record of the guarded mount (see ``asgi_closeguard.CloseRecord``)."""

    time: str
    path: str
    label: str
    code: int | None
    reason: str
    closed_by: str
    requested_code: int | str | None
    exception: str | None
    accepted: bool
    http_status: int | None
    duration_ms: float
    messages_sent: int
    messages_received: int


class CloseLogJSON(BaseModel):
    """What the guard recorded: the total, counts by code, the last 100 records newest first."""

    total: int
    counts: dict[str, int]
    records: list[CloseRecordJSON]


class DeployJSON(BaseModel):
    """What a deploy did (see ``demo_app.deploys.DeployReport``)."""

    spread: float
    raw_closed: int
    drained: int
    drain_seconds: float
    instance: int


class PageError(Exception):
    """An HTML page that cannot be shown: rendered as the error page, in the page's language."""

    def __init__(self, status_code: int, message: str, lang: str = "en") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.lang = lang


LangQuery = Annotated[
    str,
    Query(
        description="The language of the texts: " + ", ".join(LANGUAGES),
        json_schema_extra={"enum": list(LANGUAGES)},
    ),
]


def _api_language(lang: str) -> str:
    try:
        return validate_language(lang)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


def _api_code(code: int) -> int:
    if not FIRST_CODE <= code <= LAST_CODE:
        raise HTTPException(
            status_code=404,
            detail=(
                f"there is no close code {code}: a close frame carries a number from "
                f"{FIRST_CODE} to {LAST_CODE}"
            ),
        )
    return code


def _page_language(lang: str) -> str:
    if lang in LANGUAGES:
        return lang
    text = chrome("en")["error_language"].format(value=lang, available=", ".join(LANGUAGES))
    raise PageError(422, text)


def _page_code(text: str, lang: str) -> int:
    words = chrome(lang)
    try:
        code = int(text)
    except ValueError:
        raise PageError(422, words["error_not_a_code"].format(value=text), lang) from None
    if not FIRST_CODE <= code <= LAST_CODE:
        raise PageError(404, words["error_out_of_range"].format(value=code), lang)
    return code


def create_app() -> FastAPI:
    """Build the demo app with a fresh close log and Prometheus registry."""
    closes = CloseLog()
    # A registry per app, not prometheus_client's global one: tests build many apps.
    metrics_registry = CollectorRegistry()
    # Built from the installed package, never copied into static/: the page always explains
    # closes with the texts and rules of the package that serves it.
    closeguard_js = export_js(app_codes=APP_CODES)
    templates = Jinja2Templates(directory=TEMPLATES_DIRECTORY)
    # A missing text is an error, not a blank on the page: the texts' keys can change.
    templates.env.undefined = StrictUndefined

    # One CloseMetrics for both guarded mounts: a second one would register its metrics twice.
    on_close: list[Callable[[CloseRecord], object]] = [
        closes.record,
        CloseMetrics(registry=metrics_registry),
    ]
    # The raw mount can be stopped the way uvicorn stops (1012 to every WebSocket at once).
    raw = ServerStop(_scenario_app())
    guarded_inner = _scenario_app()

    def new_guard(drain: Drain) -> CloseGuardMiddleware:
        # A plain ASGI wrapper around the whole sub-app: what `app.add_middleware` does, made
        # explicit so that only the /guarded mount is guarded. A deploy drains it and builds
        # the next one (see demo_app.deploys.Redeployable).
        return CloseGuardMiddleware(
            guarded_inner, exception_codes=EXCEPTION_CODES, on_close=on_close, drain=drain
        )

    guarded = Redeployable(new_guard)
    # The same handlers behind a guard that answers a refusal before accept with an accept and
    # a close carrying the app's code (4401), which a browser can read, instead of HTTP 403.
    guarded_close = CloseGuardMiddleware(
        _scenario_app(), exception_codes=EXCEPTION_CODES, on_close=on_close, refuse_with="close"
    )
    deploys = Deploys(raw, guarded)

    app = FastAPI(
        title="asgi-closeguard demo",
        version=__version__,
        description=(
            "WebSocket scenarios served raw (`/raw/ws/...`), behind CloseGuardMiddleware "
            "(`/guarded/ws/...`, with a Drain) and behind a guard that answers refusals with a "
            'close (`/guarded-close/ws/...`, refuse_with="close"); a deploy of both sides '
            "(`POST /api/deploy`); every close code explained. The HTML pages are at `/`."
        ),
    )
    app.state.closes = closes
    app.state.metrics_registry = metrics_registry
    app.state.deploys = deploys
    app.mount("/raw", raw, name="raw")
    app.mount("/guarded", guarded, name="guarded")
    app.mount("/guarded-close", guarded_close, name="guarded-close")
    app.mount("/static", StaticFiles(directory=STATIC_DIRECTORY), name="static")

    def render(
        request: Request,
        template: str,
        lang: str,
        context: Mapping[str, Any],
        status_code: int = 200,
    ) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = {
            "request": request,
            "lang": lang,
            "t": chrome(lang),
            "ui": interface_texts(lang),
            "root": root,
            "languages": [
                (code, LANGUAGE_NAMES.get(code, code), _with_lang(request, code))
                for code in LANGUAGES
            ],
            "version": __version__,
            **context,
        }
        return templates.TemplateResponse(request, template, page, status_code=status_code)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> HTMLResponse:
        return render(request, "error.html", exc.lang, {"message": exc.message}, exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException) -> Response:
        # An unknown page gets the HTML error page; the API keeps FastAPI's JSON errors.
        if exc.status_code == 404 and not request.url.path.startswith("/api/"):
            lang = request.query_params.get("lang", "en")
            lang = lang if lang in LANGUAGES else "en"
            message = chrome(lang)["error_not_found"]
            return render(request, "error.html", lang, {"message": message}, 404)
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request, lang: str = "en") -> HTMLResponse:
        lang = _page_language(lang)
        words = chrome(lang)
        codes = [describe(code, lang, app_codes=APP_CODES) for code in _CODE_NUMBERS]
        page_data = {
            "lang": lang,
            "root": request.scope.get("root_path", ""),
            "words": {
                key: words[key]
                for key in (
                    "running",
                    "clean",
                    "not_clean",
                    "reason",
                    "empty_reason",
                    "echoed",
                    "timeout",
                    "not_opened",
                    "more_about",
                    "closes_empty",
                    "chart_label",
                    "connection",
                    "reconnecting_in",
                    "stays_closed",
                    "gave_up",
                    "deploy_opening",
                    "deploy_deploying",
                    "deploy_waiting",
                    "deploy_failed",
                    "deploy_not_opened",
                    "deploy_at_once",
                    "deploy_spread",
                    "deploy_came_back",
                    "deploy_turned_away",
                    "deploy_raw_done",
                    "deploy_guarded_done",
                    "timeline_label",
                    "timeline_client",
                    "timeline_seconds",
                    "timeline_connected",
                    "timeline_closed",
                    "timeline_deploy",
                )
            },
            "deploy": {"clients": DEPLOY_CLIENTS, "spread": DEPLOY_SPREAD},
            "ui": {
                key: interface_texts(lang)[key]
                for key in ("reconnect", "reconnect_no", "reconnect_yes", "reconnect_backoff")
            },
            "names": {str(d.code): d.name for d in codes},
        }
        return render(
            request,
            "index.html",
            lang,
            {
                "scenarios": [
                    {
                        "key": s.key,
                        "takes_close": s.takes_close,
                        "reconnects": s.reconnects,
                        "max_connections": s.max_connections,
                        "deploy": s.deploy,
                        "mounts": [
                            {
                                "key": mount,
                                "heading": words[f"{_words_key(mount)}_heading"],
                                "note": words[f"{_words_key(mount)}_note"],
                            }
                            for mount in s.mounts
                        ],
                        "text": words[f"scenario_{s.key}"],
                    }
                    for s in SCENARIOS
                ],
                "first_scenario": FIRST_SCENARIO,
                "codes": [code for code in codes if not code.app_code],
                "app_codes": [code for code in codes if code.app_code],
                "ranges": [describe_range(band, lang) for band in CODE_RANGES],
                "pairs": [(describe(a, lang), describe(b, lang)) for a, b in CONFUSED_PAIRS],
                "page_data": page_data,
            },
        )

    @app.get("/codes/{code}", response_class=HTMLResponse, include_in_schema=False)
    async def code_page(request: Request, code: str, lang: str = "en") -> HTMLResponse:
        lang = _page_language(lang)
        number = _page_code(code, lang)
        description = describe(number, lang, app_codes=APP_CODES)
        return render(request, "code.html", lang, {"d": description})

    @app.get("/compare", include_in_schema=False)
    async def compare_form(
        request: Request, a: str = "", b: str = "", lang: str = "en"
    ) -> RedirectResponse:
        # The home page's compare form submits here (no JavaScript needed): on to the page.
        lang = _page_language(lang)
        first, second = _page_code(a.strip(), lang), _page_code(b.strip(), lang)
        root = request.scope.get("root_path", "")
        return RedirectResponse(
            f"{root}/compare/{first}/{second}?{urlencode({'lang': lang})}", status_code=303
        )

    @app.get("/compare/{a}/{b}", response_class=HTMLResponse, include_in_schema=False)
    async def compare_page(request: Request, a: str, b: str, lang: str = "en") -> HTMLResponse:
        lang = _page_language(lang)
        first, second = _page_code(a, lang), _page_code(b, lang)
        comparison = compare(first, second, lang, app_codes=APP_CODES)
        return render(request, "compare.html", lang, {"c": comparison})

    @app.get(
        CLOSEGUARD_JS_PATH,
        response_class=Response,
        tags=["close codes"],
        responses={200: {"content": {JAVASCRIPT: {}}}},
    )
    async def closeguard_module() -> Response:
        """The ES module ``asgi-closeguard export-js --app-codes demo_app.codes:APP_CODES``
        prints, in every language: ``describeClose(codeOrCloseEvent, lang)``,
        ``shouldReconnect(codeOrCloseEvent)`` and ``connect(url, options)``."""
        # no-cache: a browser revalidates, so an upgraded package reaches the page at once.
        return Response(closeguard_js, media_type=JAVASCRIPT, headers={"Cache-Control": "no-cache"})

    @app.get("/api/codes", response_model=CodeList, tags=["close codes"])
    async def api_codes(lang: LangQuery = "en") -> CodeList:
        """Every registered close code and the demo's own (``app_code: true``), in numeric
        order, then every band of numbers (RFC 6455 §7.4.2)."""
        lang = _api_language(lang)
        return CodeList(
            lang=lang,
            codes=[describe(code, lang, app_codes=APP_CODES) for code in _CODE_NUMBERS],
            ranges=[describe_range(band, lang) for band in CODE_RANGES],
        )

    @app.get(
        "/api/codes/{code}",
        response_model=CodeDescription,
        tags=["close codes"],
        responses={404: {"description": "Not a number a close frame can carry (0-65535)"}},
    )
    async def api_code(code: int, lang: LangQuery = "en") -> CodeDescription:
        """One close code: what it is, when you see it, what to do, whether to send it. The
        demo's own codes (4001, 4029, 4401) come with the demo's words and ``app_code: true``."""
        return describe(_api_code(code), _api_language(lang), app_codes=APP_CODES)

    @app.get(
        "/api/compare/{a}/{b}",
        response_model=CodeComparison,
        tags=["close codes"],
        responses={404: {"description": "Not a number a close frame can carry (0-65535)"}},
    )
    async def api_compare(a: int, b: int, lang: LangQuery = "en") -> CodeComparison:
        """Two close codes side by side: what sets them apart and when to use which."""
        return compare(_api_code(a), _api_code(b), _api_language(lang), app_codes=APP_CODES)

    @app.get("/api/closes", response_model=CloseLogJSON, tags=["live closes"])
    async def api_closes() -> dict[str, Any]:
        """The guarded mount's close records: the last 100, newest first, and counts by code
        since the app started (``http-500`` when the handshake was answered with HTTP)."""
        return closes.snapshot()

    @app.post(
        "/api/deploy",
        response_model=DeployJSON,
        tags=["deploy"],
        responses={409: {"description": "A deploy is running already"}},
    )
    async def api_deploy(
        spread: Annotated[
            float,
            Query(
                ge=0,
                le=MAX_DEPLOY_SPREAD,
                allow_inf_nan=False,
                description="The seconds over which the guarded side's closes are spread",
            ),
        ] = DEPLOY_SPREAD,
    ) -> DeployJSON:
        """A deploy, played on both sides. Raw: every open WebSocket gets 1012 in the same
        instant, what uvicorn sends at ``SIGTERM``. Guarded: the mount's ``Drain`` closes each
        open WebSocket with 1012 at its own moment over ``spread`` seconds (one that arrives
        meanwhile is accepted and closed with 1012 at once); then a fresh guard with a fresh
        ``Drain`` serves the mount, standing for the new instance. Answers once the drain is
        over."""
        try:
            report = await deploys.deploy(spread)
        except DeployInProgressError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        return DeployJSON(**dataclasses.asdict(report))

    @app.get(
        "/metrics",
        response_class=Response,
        tags=["live closes"],
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics() -> Response:
        """Prometheus text format: ``websocket_server_closes_total{code, closed_by, exception,
        route}`` and ``websocket_server_connection_duration_seconds{closed_by, route}``."""
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _scenario_app() -> FastAPI:
    """A sub-app with every scenario: each mount gets its own, with the same handlers."""
    sub_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    sub_app.include_router(scenario_router())
    return sub_app


def _words_key(mount: str) -> str:
    """The chrome's prefix for a mount's heading and note: ``guarded-close`` is
    ``guarded_close``."""
    return mount.replace("-", "_")


def _with_lang(request: Request, lang: str) -> str:
    """The current page's path and query with ``lang`` set: the language switch's links."""
    query = {**request.query_params, "lang": lang}
    return quote(request.url.path) + "?" + urlencode(query)


#: The app ``python -m demo_app`` serves (``uvicorn demo_app.app:app`` works too).
app = create_app()
