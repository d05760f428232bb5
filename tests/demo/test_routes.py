"""Every HTTP route of the demo app and its error paths, through TestClient.

Every word about a close code on a page must be the knowledge API's: the pages are checked
against ``describe`` / ``compare`` / ``describe_range``, never against a copy of the texts.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

import demo_app.app
from asgi_closeguard import (
    LANGUAGES,
    CloseCode,
    CodeDescription,
    RangeDescription,
    compare,
    describe,
    describe_range,
)
from asgi_closeguard._codes import CODE_RANGES
from asgi_closeguard._export_js import export_js
from asgi_closeguard._knowledge import interface_texts
from demo_app.app import CONFUSED_PAIRS, DEPLOY_CLIENTS, DEPLOY_SPREAD, STATIC_DIRECTORY
from demo_app.chrome import CHROME, LANGUAGE_NAMES, chrome
from demo_app.codes import APP_CODES
from demo_app.scenarios import SCENARIOS


def as_json(value: Any) -> Any:
    """A knowledge record as it looks after a trip through JSON (tuples become lists)."""
    return json.loads(json.dumps(asdict(value)))


def html(text: str) -> str:
    """``text`` as Jinja2's autoescape writes it into a page."""
    return str(escape(text))


def page_data(page: str) -> Any:
    """The JSON the home page hands its scripts (``<script id="page-data">``)."""
    match = re.search(r'id="page-data">(.*?)</script>', page, re.DOTALL)
    assert match, "the page has no page-data"
    return json.loads(match.group(1))


def html_lang(page: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', page)
    assert match, "the page has no <html lang>"
    return match.group(1)


# --- the chrome: complete in every language ---------------------------------------------------


def test_chrome_covers_every_language_with_the_same_keys() -> None:
    assert set(LANGUAGES) <= set(CHROME), "a language of the texts has no page chrome"
    assert set(LANGUAGES) <= set(LANGUAGE_NAMES)
    english = set(CHROME["en"])
    for lang, words in CHROME.items():
        assert set(words) == english, f"chrome keys of {lang!r} differ from English"
    for scenario in SCENARIOS:
        assert f"scenario_{scenario.key}" in english


# --- HTML pages ---------------------------------------------------------------------------------

PAGES = [
    ("/", "en"),
    ("/?lang=ko", "ko"),
    ("/codes/1006", "en"),
    ("/codes/1011?lang=ko", "ko"),
    ("/codes/4404", "en"),
    ("/codes/0?lang=ko", "ko"),
    ("/codes/65535", "en"),
    ("/compare/1006/1011", "en"),
    ("/compare/1005/1005?lang=ko", "ko"),
    ("/compare/3000/4999", "en"),
]


@pytest.mark.parametrize(("path", "lang"), PAGES)
def test_pages_render_in_their_language(client: TestClient, path: str, lang: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert html_lang(response.text) == lang
    if not path.startswith(("/?", "/#")) and path != "/":
        assert html(chrome(lang)["back"]) in response.text
    # The language switch links every language, the current one marked.
    for code, name in LANGUAGE_NAMES.items():
        assert html(name) in response.text, code
    assert 'aria-current="true"' in response.text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_home_page_shows_every_code_and_band_from_the_knowledge_api(
    client: TestClient, lang: str
) -> None:
    page = client.get("/", params={"lang": lang}).text
    for code in CloseCode:
        description = describe(code, lang)
        assert f'href="/codes/{int(code)}?lang={lang}"' in page
        assert html(description.name) in page
        assert html(description.summary) in page
        assert html(description.sent_by_text) in page
    for band in CODE_RANGES:
        assert html(describe_range(band, lang).summary) in page
    for a, b in CONFUSED_PAIRS:
        assert f'href="/compare/{a}/{b}?lang={lang}"' in page
    for scenario in SCENARIOS:
        assert f'data-scenario="{scenario.key}"' in page
        assert html(chrome(lang)[f"scenario_{scenario.key}"]) in page
    for heading in ("sendable", "sent_by", "reconnect", "summary", "name", "code"):
        assert html(interface_texts(lang)[heading]) in page
    # What a reconnecting client does, for every code and band, in the page's language.
    reconnects = re.findall(r'data-reconnect="(no|yes|backoff)">([^<]+)<', page)
    expected: list[CodeDescription | RangeDescription] = [
        describe(code, lang) for code in CloseCode
    ]
    expected += [describe(code, lang, app_codes=APP_CODES) for code in sorted(APP_CODES)]
    expected += [describe_range(band, lang) for band in CODE_RANGES]
    assert reconnects == [
        (d.reconnect, html(interface_texts(lang)[f"reconnect_{d.reconnect}"])) for d in expected
    ]
    for heading in ("codes_heading", "ranges_heading", "playground", "closes", "reference"):
        assert html(chrome(lang)[heading]) in page


@pytest.mark.parametrize("lang", LANGUAGES)
def test_home_page_lists_the_demos_own_codes(client: TestClient, lang: str) -> None:
    page = client.get("/", params={"lang": lang}).text
    start = page.index('id="app-codes"')
    table = page[start : page.index("</table>", start)]
    assert html(chrome(lang)["app_codes_heading"]) in page
    rows = re.findall(r'<tr id="code-(\d+)" data-app-code="true">', table)
    assert rows == [str(code) for code in sorted(APP_CODES)]
    for code in APP_CODES:
        description = describe(code, lang, app_codes=APP_CODES)
        assert description.app_code
        assert html(description.name) in table
        assert html(description.summary) in table
        assert f'href="/codes/{code}?lang={lang}"' in table


@pytest.mark.parametrize(
    "path", ["/?lang=ko", "/codes/1006?lang=ko", "/compare/1006/1011?lang=ko", "/codes/x?lang=ko"]
)
def test_korean_pages_have_no_english_chrome(client: TestClient, path: str) -> None:
    page = client.get(path).text
    # What a reader sees or hears: text between tags, and the labels read out to screen readers.
    visible = re.sub(r"<script.*?</script>|<[^>]*>", " ", page, flags=re.DOTALL) + " ".join(
        re.findall(r'aria-label="([^"]*)"', page)
    )
    english, korean = CHROME["en"], CHROME["ko"]
    for key, text in english.items():
        if text == korean[key] or "{" in text:
            continue  # the same in both (JSON, CloseGuardMiddleware) or a template
        as_a_word = rf"(?<!\w){re.escape(html(text))}(?!\w)"
        assert not re.search(as_a_word, visible), f"English chrome {key!r} on the Korean page"
    for key in (
        "playground",
        "closes",
        "reference",
        "api_docs",
        "back" if path != "/?lang=ko" else "run_all",
    ):
        assert html(korean[key]) in page


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    "code", [1000, 1005, 1006, 1011, 1013, 1016, 3000, 4404, 0, 65535, *sorted(APP_CODES)]
)
def test_code_page_is_the_knowledge_apis_description(
    client: TestClient, code: int, lang: str
) -> None:
    page = client.get(f"/codes/{code}", params={"lang": lang}).text
    description = describe(code, lang, app_codes=APP_CODES)
    ui = interface_texts(lang)
    sections = [
        (ui["what_it_is"], description.summary),
        (ui["when_seen"], description.when_seen),
        (ui["how_to_fix"], description.what_to_do),
        (ui["when_to_send"], description.when_to_send),
    ]
    position = 0
    for heading, text in sections:
        # Each section in the order of the original layout: heading, then its text.
        heading_at = page.index(f"<h2>{html(heading)}</h2>", position)
        text_at = page.index(html(text), heading_at)
        position = text_at
    for fact in (
        description.name,
        description.range_text,
        description.reference,
        description.reconnect_text,
    ):
        assert html(fact) in page
    assert f'href="{description.reference_url}"' in page
    if description.constant:
        assert f"CloseCode.{description.constant}" in page
    declared = f'data-app-code="true">{html(interface_texts(lang)["declared_by_app"])}<'
    assert (declared in page) is description.app_code


def test_the_demo_declares_codes_of_its_own() -> None:
    assert {code: d.reconnect for code, d in APP_CODES.items()} == {
        4001: "no",
        4029: "backoff",
        4401: "no",
    }
    assert describe(4001, app_codes=APP_CODES).name == "Kicked"
    assert describe(4001, "ko", app_codes=APP_CODES).name == "강퇴됨"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("a", "b"), [(1006, 1011), (1011, 1006), (1005, 1006), (1000, 4000), (4001, 4029)]
)
def test_compare_page_is_the_knowledge_apis_comparison(
    client: TestClient, a: int, b: int, lang: str
) -> None:
    page = client.get(f"/compare/{a}/{b}", params={"lang": lang}).text
    comparison = compare(a, b, lang, app_codes=APP_CODES)
    ui = interface_texts(lang)
    differences_at = page.index(f"<h2>{html(ui['differences'])}</h2>")
    when_at = page.index(f"<h2>{html(ui['when_to_use'])}</h2>", differences_at)
    for line in comparison.differences:
        assert differences_at < page.index(html(line)) < when_at
    for line in comparison.when_to_use:
        assert page.index(html(line), when_at) > when_at
    for description in (comparison.first, comparison.second):
        assert html(description.summary) in page
        assert html(description.when_seen) in page
        assert html(description.what_to_do) in page
    assert page.index(html(comparison.first.name)) < page.index(html(comparison.second.name))


# --- the compare form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ({"a": "1006", "b": "1011"}, "/compare/1006/1011?lang=en"),
        ({"a": " 1005 ", "b": "1000", "lang": "ko"}, "/compare/1005/1000?lang=ko"),
    ],
)
def test_compare_form_redirects_to_the_compare_page(
    client: TestClient, query: dict[str, str], location: str
) -> None:
    response = client.get("/compare", params=query, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == location


# --- JSON API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_api_codes_lists_every_code_and_band(client: TestClient, lang: str) -> None:
    response = client.get("/api/codes", params={"lang": lang})
    assert response.status_code == 200
    body = response.json()
    assert body["lang"] == lang
    numbers = sorted({*map(int, CloseCode), *APP_CODES})
    assert body["codes"] == [as_json(describe(code, lang, app_codes=APP_CODES)) for code in numbers]
    assert [entry["code"] for entry in body["codes"] if entry["app_code"]] == sorted(APP_CODES)
    assert body["ranges"] == [as_json(describe_range(band, lang)) for band in CODE_RANGES]


def test_api_codes_default_language_is_english(client: TestClient) -> None:
    assert client.get("/api/codes").json()["lang"] == "en"
    assert client.get("/api/codes/1006").json()["lang"] == "en"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    "code", [0, 999, 1000, 1005, 1006, 1011, 1016, 2999, 3008, 4404, 65535, *sorted(APP_CODES)]
)
def test_api_code_is_describe(client: TestClient, code: int, lang: str) -> None:
    response = client.get(f"/api/codes/{code}", params={"lang": lang})
    assert response.status_code == 200
    assert response.json() == as_json(describe(code, lang, app_codes=APP_CODES))
    assert response.json()["app_code"] is (code in APP_CODES)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("a", "b"), [(1006, 1011), (1011, 1006), (1005, 1005), (0, 65535), (4401, 1008)]
)
def test_api_compare_is_compare(client: TestClient, a: int, b: int, lang: str) -> None:
    response = client.get(f"/api/compare/{a}/{b}", params={"lang": lang})
    assert response.status_code == 200
    assert response.json() == as_json(compare(a, b, lang, app_codes=APP_CODES))


def test_api_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/codes",
        "/api/codes/{code}",
        "/api/compare/{a}/{b}",
        "/api/closes",
        "/metrics",
    } <= set(paths)
    # HTML pages and WebSocket mounts are not JSON API: kept out of /docs.
    assert not any(path.startswith(("/codes", "/compare/", "/raw", "/guarded")) for path in paths)
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


# --- closeguard.js: the exported module, as the page loads it -----------------------------------


def test_closeguard_js_is_the_module_export_js_prints(client: TestClient) -> None:
    response = client.get("/js/closeguard.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.text == export_js(app_codes=APP_CODES)
    assert '"name": "Kicked"' in response.text


def test_closeguard_js_is_built_when_the_app_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever the package gives at startup is what the page gets: there is no copy on disk.
    monkeypatch.setattr(demo_app.app, "export_js", lambda **_: "export const fresh = true;\n")
    with TestClient(demo_app.app.create_app()) as client:
        assert client.get("/js/closeguard.js").text == "export const fresh = true;\n"
    assert not list(STATIC_DIRECTORY.glob("closeguard*"))


def test_the_playground_imports_closeguard_js(client: TestClient) -> None:
    page = client.get("/").text
    assert '<script type="module" src="/static/playground.js"></script>' in page
    assert '<a href="/js/closeguard.js">' in page
    playground = client.get("/static/playground.js").text
    imported = re.search(r'^import \{ ([^}]+) \} from "([^"]+)";$', playground, re.MULTILINE)
    assert imported, "playground.js imports nothing from closeguard.js"
    assert imported.group(2) == "../js/closeguard.js"  # /static/../js/closeguard.js
    assert {"connect", "describeClose"} <= set(imported.group(1).split(", "))
    # The page asks the module, not the API, what a close means.
    assert "/api/codes" not in playground


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_word_the_playground_uses_is_on_the_page(client: TestClient, lang: str) -> None:
    page = client.get("/", params={"lang": lang}).text
    data = page_data(page)
    playground = (STATIC_DIRECTORY / "playground.js").read_text(encoding="utf-8")
    used = set(re.findall(r"\bwords\.(\w+)", playground))
    assert used, "playground.js reads no words"
    assert used <= set(data["words"]), used - set(data["words"])
    assert all(data["words"][key] == chrome(lang)[key] for key in used)


def test_the_reconnecting_scenarios_are_marked_with_their_bound(client: TestClient) -> None:
    page = client.get("/").text
    marked = re.findall(
        r'data-scenario="([^"]+)" data-reconnects="true" data-max-connections="(\d+)"', page
    )
    assert marked == [
        (scenario.key, str(scenario.max_connections))
        for scenario in SCENARIOS
        if scenario.reconnects
    ]
    # The login card's client gives up sooner: connect()'s backoff doubles after each 1006.
    assert marked == [("restart", "5"), ("login-required", "3")]


def test_the_deploy_card_is_marked_and_gets_its_clients_and_spread(client: TestClient) -> None:
    page = client.get("/").text
    assert re.findall(r'data-scenario="([^"]+)"[^>]* data-deploy="true"', page) == ["deploy"]
    data = page_data(page)
    assert data["deploy"] == {"clients": DEPLOY_CLIENTS, "spread": DEPLOY_SPREAD}
    # The card's text says what the page does.
    for lang in LANGUAGES:
        text = chrome(lang)["scenario_deploy"]
        assert str(DEPLOY_CLIENTS) in text
        assert re.search(rf"\b{DEPLOY_SPREAD:g} ?(s|초)", text), lang


def test_the_login_card_has_a_third_cell_for_refuse_with_close(client: TestClient) -> None:
    page = client.get("/").text
    start = page.index('data-scenario="login-required"')
    card = page[start : page.index("</article>", start)]
    assert re.findall(r'data-side="([^"]+)"', card) == ["raw", "guarded", "guarded-close"]
    assert "<code>/guarded-close/ws/login-required</code>" in card
    assert html(chrome("en")["guarded_close_heading"]) in card
    # Every other card has the two sides of the column heads.
    for scenario in SCENARIOS:
        if scenario.key != "login-required":
            assert scenario.mounts == ("raw", "guarded")


# --- error paths: a clear 4xx, never a 500 ------------------------------------------------------

API_ERRORS = [
    ("/api/codes/abc", 422, "valid integer"),
    ("/api/codes/1.5", 422, "valid integer"),
    ("/api/codes/70000", 404, "there is no close code 70000"),
    ("/api/codes/65536", 404, "from 0 to 65535"),
    ("/api/codes/-1", 404, "there is no close code -1"),
    ("/api/compare/1005/x", 422, "valid integer"),
    ("/api/compare/x/1005", 422, "valid integer"),
    ("/api/compare/1005/-3", 404, "there is no close code -3"),
    ("/api/compare/99999/1000", 404, "there is no close code 99999"),
    ("/api/codes?lang=xx", 422, "unknown language 'xx': available languages are"),
    ("/api/codes/1006?lang=xx", 422, "unknown language 'xx'"),
    ("/api/compare/1005/1006?lang=", 422, "unknown language ''"),
    ("/api/nothing", 404, "Not Found"),
]


@pytest.mark.parametrize(("path", "status", "message"), API_ERRORS)
def test_api_errors_are_clear_json(
    client: TestClient, path: str, status: int, message: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert message in json.dumps(response.json()["detail"])


PAGE_ERRORS = [
    ("/codes/abc", 422, "en", "error_not_a_code", "abc"),
    ("/codes/1e3", 422, "en", "error_not_a_code", "1e3"),
    ("/codes/abc?lang=ko", 422, "ko", "error_not_a_code", "abc"),
    ("/codes/-1", 404, "en", "error_out_of_range", "-1"),
    ("/codes/70000?lang=ko", 404, "ko", "error_out_of_range", "70000"),
    ("/compare/1005/x", 422, "en", "error_not_a_code", "x"),
    ("/compare/x/1005?lang=ko", 422, "ko", "error_not_a_code", "x"),
    ("/compare/1005/65536", 404, "en", "error_out_of_range", "65536"),
    ("/compare?a=abc&b=1000", 422, "en", "error_not_a_code", "abc"),
    ("/compare?a=1000", 422, "en", "error_not_a_code", ""),
    ("/?lang=xx", 422, "en", "error_language", "xx"),
    ("/codes/1006?lang=xx", 422, "en", "error_language", "xx"),
    ("/compare/1005/1006?lang=fr", 422, "en", "error_language", "fr"),
]


@pytest.mark.parametrize(("path", "status", "lang", "key", "value"), PAGE_ERRORS)
def test_page_errors_are_clear_html_in_the_pages_language(
    client: TestClient, path: str, status: int, lang: str, key: str, value: str
) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert html_lang(response.text) == lang
    message = chrome(lang)[key].format(value=value, available=", ".join(LANGUAGES))
    assert html(message) in response.text
    assert html(chrome(lang)["error_heading"]) in response.text


@pytest.mark.parametrize(
    ("path", "lang"), [("/nowhere", "en"), ("/codes", "en"), ("/x?lang=ko", "ko")]
)
def test_unknown_pages_get_the_html_404(client: TestClient, path: str, lang: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert html_lang(response.text) == lang
    assert html(chrome(lang)["error_not_found"]) in response.text


# --- offline: every resource is served by the app itself --------------------------------------


@pytest.mark.parametrize("path", ["/", "/codes/1006", "/compare/1006/1011", "/codes/x"])
def test_pages_load_nothing_from_elsewhere(client: TestClient, path: str) -> None:
    page = client.get(path).text
    resources = re.findall(r'<(?:script|link|img)\b[^>]*?(?:src|href)="([^"]+)"', page)
    assert resources, "no scripts or stylesheets found"
    for url in resources:
        assert url.startswith("/static/"), url
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("style.css", "text/css"),
        ("playground.js", "text/javascript"),
        ("closes.js", "text/javascript"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_static_files_are_served_and_self_contained(
    client: TestClient, name: str, media_type: str
) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    # No CDN, no web fonts, no imports: only the SVG namespace may look like a URL.
    text = (STATIC_DIRECTORY / name).read_text(encoding="utf-8")
    urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
    assert not urls
    assert "@import" not in text


# --- live closes: /api/closes and /metrics before anything happened ---------------------------


def test_api_closes_starts_empty(client: TestClient) -> None:
    assert client.get("/api/closes").json() == {"total": 0, "counts": {}, "records": []}


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "# TYPE websocket_server_closes_total counter" in response.text
    assert "# TYPE websocket_server_connection_duration_seconds histogram" in response.text


def test_the_command_line_reads_the_demos_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from asgi_closeguard._cli import main

    assert main(["explain", "4029", "--json", "--app-codes", "demo_app.codes:APP_CODES"]) == 0
    assert json.loads(capsys.readouterr().out) == as_json(describe(4029, app_codes=APP_CODES))
