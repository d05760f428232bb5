"""The page chrome in every language: headings, buttons, labels.

Only the demo's own words live here. Everything said about a close code — its name, what it
means, when you see it, what to do — comes from the knowledge API (``describe``, ``compare``,
``describe_range``, ``interface_texts``), never from this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["CHROME", "LANGUAGE_NAMES", "chrome"]

#: Each language's name in itself, for the language switch.
LANGUAGE_NAMES: Final[Mapping[str, str]] = {"en": "English", "ko": "한국어"}

_EN: Final[Mapping[str, str]] = {
    "site_title": "asgi-closeguard demo",
    "tagline": (
        "The same FastAPI WebSocket handlers, served twice by uvicorn: raw, and behind "
        "CloseGuardMiddleware. Run a scenario and compare what your browser's CloseEvent "
        "reports on each side."
    ),
    "hero": (
        "Start with crash: a handler that raises after accept. Raw uvicorn drops the "
        "connection without a close frame; behind the guard the browser gets a real close."
    ),
    "skip_link": "Skip to the playground",
    "nav_label": "Sections",
    "language": "Language",
    "playground": "Playground",
    "scenario": "Scenario",
    "raw_heading": "Raw uvicorn",
    "raw_note": "no guard",
    "guarded_heading": "With the guard",
    "guarded_note": "CloseGuardMiddleware",
    "guarded_close_heading": 'With refuse_with="close"',
    "guarded_close_note": 'CloseGuardMiddleware(refuse_with="close")',
    "run": "Run",
    "run_label": "Run {scenario} raw and guarded",
    "run_all": "Run every scenario",
    "not_run": "Not run yet",
    "running": "Running…",
    "clean": "clean close",
    "not_clean": "not clean",
    "reason": "reason",
    "empty_reason": "(empty)",
    "echoed": "echoed back",
    "timeout": "No close within 5 s: the socket stayed open, so the page closed it.",
    "not_opened": "The handshake failed: the socket never opened (browsers hide the HTTP status).",
    "more_about": "More about {code}",
    "start_here": "Start here",
    "close_code": "Close code",
    "close_reason": "Reason",
    "scenario_echo": (
        "Accepts, then sends every message back. The page sends one message and closes."
    ),
    "scenario_crash": "Accepts, then raises RuntimeError: a handler with a bug.",
    "scenario_crash-before-accept": (
        "Raises before accept: the handshake is answered with HTTP 500, guard or not."
    ),
    "scenario_return": "Accepts, then returns without closing.",
    "scenario_close": (
        "Accepts, then closes with the code and reason below, whatever they are: forbidden "
        "codes such as 1005 and 1006 included."
    ),
    "scenario_mapped": (
        "Accepts, then raises TimeoutError, which the guarded mount maps with "
        "exception_codes={TimeoutError: 1013}."
    ),
    "scenario_restart": (
        "Closes the first connection with 1012, as a restarting server does. The page's client, "
        "made with closeguard.js's connect(), comes back by itself after a short random delay, "
        "and stops after the 1000 that ends the second connection."
    ),
    "scenario_deploy": (
        "6 clients a side, each made with closeguard.js's connect() and in a session that "
        "echoes. Then a deploy: raw, every connection gets 1012 in the same instant, which is "
        "what uvicorn does at SIGTERM; guarded, the guard's Drain closes each with 1012 at its "
        "own moment over 3 s, and a fresh guard then stands for the new instance. Every client "
        "comes back by itself."
    ),
    "scenario_login-required": (
        "Refuses before accept with the app's own 4401 “login required”. Before accept a server "
        "can only answer with HTTP 403, and a browser shows a page no HTTP status: raw and "
        "behind the default guard the page sees 1006, and connect() keeps coming back. With "
        'refuse_with="close" the guard accepts and closes with 4401: the page reads the app\'s '
        "words, and connect() stays away."
    ),
    "explained_by": (
        "Every close below is explained in this page's language by closeguard.js, the module "
        "that asgi-closeguard export-js prints, with what a reconnecting client built on its "
        "connect() does next."
    ),
    "connection": "connection {number}",
    "reconnecting_in": "reconnects in {ms} ms",
    "stays_closed": "stays closed",
    "gave_up": "gave up after {number} connections",
    "deploy_opening": "Opening {count} clients…",
    "deploy_deploying": "Deploying: POST /api/deploy?spread={spread}…",
    "deploy_waiting": "Waiting for every client to come back…",
    "deploy_failed": "The deploy did not run: {detail}",
    "deploy_not_opened": (
        "Only {open} of {count} clients could connect, so the page did not deploy."
    ),
    "deploy_at_once": "{closes}, all within {ms} ms",
    "deploy_spread": "{closes}, spread over {seconds} s",
    "deploy_came_back": "{back} of {count} clients came back, and their sessions echo again",
    "deploy_turned_away": (
        "{count} connections made while the drain ran were closed with 1012 at once"
    ),
    "deploy_raw_done": (
        "What uvicorn does at SIGTERM: every open WebSocket gets 1012 in the same instant, and "
        "every client comes back at once."
    ),
    "deploy_guarded_done": (
        "The Drain closed {count} connections over {spread} s (it took {seconds} s); then a "
        "fresh guard stood for the new instance."
    ),
    "timeline_label": (
        "When each client was closed and when it was connected, in seconds since the deploy"
    ),
    "timeline_client": "client {number}",
    "timeline_seconds": "{seconds} s",
    "timeline_connected": "connected",
    "timeline_closed": "closed (1012)",
    "timeline_deploy": "the deploy",
    "closes": "Live closes",
    "closes_intro": (
        "Every connection to /guarded and /guarded-close leaves one CloseRecord through "
        "on_close: counts by close code, refreshed every two seconds. The raw mount has no "
        "guard, so nothing records its closes."
    ),
    "closes_empty": "No closes recorded yet: run a scenario.",
    "closes_total": "closes recorded",
    "chart_label": "Closes by code",
    "recent": "Latest records",
    "col_time": "Time",
    "col_path": "Path",
    "col_code": "Code",
    "col_closed_by": "Closed by",
    "col_exception": "Exception",
    "reference": "Every close code",
    "reference_intro": "Pick a code to see what it is, when you see it and how to fix it.",
    "codes_heading": "Registered codes",
    "app_codes_heading": "This app's own codes",
    "app_codes_intro": (
        "The demo declares these codes with AppCode, once: its pages, /api/codes and "
        "closeguard.js answer with its words, and a client built on connect() follows its advice."
    ),
    "ranges_heading": "Ranges of numbers",
    "compare_heading": "Compare two codes",
    "first_code": "First code",
    "second_code": "Second code",
    "compare_button": "Compare",
    "often_confused": "Often confused:",
    "back": "Back to the playground",
    "api_docs": "API docs",
    "metrics": "Metrics",
    "json": "JSON",
    "error_heading": "That page does not exist",
    "error_not_a_code": (
        "“{value}” is not a close code: a close code is a whole number, such as 1006."
    ),
    "error_out_of_range": (
        "There is no close code {value}: a close frame carries a number from 0 to 65535."
    ),
    "error_language": "There are no texts in “{value}”. Available languages: {available}.",
    "error_not_found": "Nothing here. The playground and the reference are on the home page.",
}

_KO: Final[Mapping[str, str]] = {
    "site_title": "asgi-closeguard 데모",
    "tagline": (
        "똑같은 FastAPI WebSocket 핸들러를 uvicorn이 두 번 서비스합니다. 한 번은 그대로, 한 번은 "
        "CloseGuardMiddleware 뒤에서. 시나리오를 실행해 양쪽에서 브라우저의 CloseEvent가 무엇을 "
        "보고하는지 비교해 보세요."
    ),
    "hero": (
        "crash부터 시작하세요. accept 뒤에 예외를 던지는 핸들러입니다. uvicorn 그대로는 close "
        "프레임 없이 연결을 끊고, 가드 뒤에서는 브라우저가 제대로 된 close를 받습니다."
    ),
    "skip_link": "플레이그라운드로 건너뛰기",
    "nav_label": "구역",
    "language": "언어",
    "playground": "플레이그라운드",
    "scenario": "시나리오",
    "raw_heading": "uvicorn 그대로",
    "raw_note": "가드 없음",
    "guarded_heading": "가드 적용",
    "guarded_note": "CloseGuardMiddleware",
    "guarded_close_heading": 'refuse_with="close" 가드',
    "guarded_close_note": 'CloseGuardMiddleware(refuse_with="close")',
    "run": "실행",
    "run_label": "{scenario} 시나리오를 가드 없이, 그리고 가드와 함께 실행",
    "run_all": "모든 시나리오 실행",
    "not_run": "아직 실행하지 않음",
    "running": "실행 중…",
    "clean": "정상 종료",
    "not_clean": "비정상 종료",
    "reason": "사유",
    "empty_reason": "(없음)",
    "echoed": "되돌아온 메시지",
    "timeout": "5초 안에 close가 오지 않았습니다. 소켓이 열린 채여서 페이지가 직접 닫았습니다.",
    "not_opened": (
        "핸드셰이크가 실패해 소켓이 열리지 않았습니다(브라우저는 HTTP 상태를 보여 주지 않습니다)."
    ),
    "more_about": "{code} 자세히 보기",
    "start_here": "여기서 시작",
    "close_code": "종료 코드",
    "close_reason": "사유",
    "scenario_echo": (
        "연결을 수락하고 받은 메시지를 그대로 돌려보냅니다. "
        "페이지가 메시지 하나를 보낸 뒤 닫습니다."
    ),
    "scenario_crash": "연결을 수락한 뒤 RuntimeError를 던집니다. 버그가 있는 핸들러입니다.",
    "scenario_crash-before-accept": (
        "수락하기 전에 예외를 던집니다. 가드가 있든 없든 핸드셰이크는 HTTP 500으로 끝납니다."
    ),
    "scenario_return": "연결을 수락한 뒤 닫지 않고 그냥 반환합니다.",
    "scenario_close": (
        "연결을 수락한 뒤 아래 코드와 사유로 닫습니다. 1005나 1006 같은 금지된 코드라도 그대로 "
        "씁니다."
    ),
    "scenario_mapped": (
        "연결을 수락한 뒤 TimeoutError를 던집니다. 가드 쪽 마운트는 "
        "exception_codes={TimeoutError: 1013}으로 이를 매핑합니다."
    ),
    "scenario_restart": (
        "재시작하는 서버처럼 첫 연결을 1012로 닫습니다. closeguard.js의 connect()로 만든 페이지의 "
        "클라이언트는 짧은 무작위 지연 뒤 스스로 다시 연결하며, 두 번째 연결을 끝내는 1000 "
        "다음에는 멈춥니다."
    ),
    "scenario_deploy": (
        "양쪽에 클라이언트를 6개씩 엽니다. 모두 closeguard.js의 connect()로 만들었고, 메시지를 "
        "되돌려 주는 세션에 들어 있습니다. 그다음 배포를 합니다. 그대로 쪽은 모든 연결이 같은 "
        "순간에 1012를 받습니다. uvicorn이 SIGTERM을 받았을 때 하는 일입니다. 가드 쪽은 가드의 "
        "Drain이 3초에 걸쳐 연결마다 다른 순간에 1012로 닫고, 그 뒤 새 가드가 새 인스턴스를 "
        "대신합니다. 모든 클라이언트는 스스로 돌아옵니다."
    ),
    "scenario_login-required": (
        "수락하기 전에 앱의 자체 코드 4401 “login required”로 거절합니다. 수락 전에는 서버가 "
        "HTTP 403으로만 답할 수 있고, 브라우저는 페이지에 HTTP 상태를 보여 주지 않습니다. 그래서 "
        "그대로와 기본 가드에서는 페이지가 1006을 보고 connect()가 계속 다시 옵니다. "
        'refuse_with="close"이면 가드가 수락한 뒤 4401로 닫습니다. 페이지는 앱의 설명을 읽고 '
        "connect()는 다시 오지 않습니다."
    ),
    "explained_by": (
        "아래의 모든 종료는 asgi-closeguard export-js가 만든 모듈인 closeguard.js가 이 페이지의 "
        "언어로 설명합니다. 그 모듈의 connect()로 만든 재연결 클라이언트가 다음에 무엇을 하는지도 "
        "함께 보여 줍니다."
    ),
    "connection": "{number}번째 연결",
    "reconnecting_in": "{ms}ms 뒤 재연결",
    "stays_closed": "연결을 닫아 둠",
    "gave_up": "연결 {number}번 뒤 포기",
    "deploy_opening": "클라이언트 {count}개를 여는 중…",
    "deploy_deploying": "배포 중: POST /api/deploy?spread={spread}…",
    "deploy_waiting": "모든 클라이언트가 돌아오기를 기다리는 중…",
    "deploy_failed": "배포를 실행하지 못했습니다: {detail}",
    "deploy_not_opened": "클라이언트 {count}개 중 {open}개만 연결되어 배포하지 않았습니다.",
    "deploy_at_once": "{closes}, 모두 {ms}ms 안에",
    "deploy_spread": "{closes}, {seconds}초에 걸쳐",
    "deploy_came_back": (
        "클라이언트 {count}개 중 {back}개가 돌아왔고, 세션이 다시 메시지를 되돌려 줍니다"
    ),
    "deploy_turned_away": "드레인 중에 새로 맺은 연결 {count}개는 곧바로 1012로 닫혔습니다",
    "deploy_raw_done": (
        "uvicorn이 SIGTERM 때 하는 일입니다. 열린 WebSocket이 모두 같은 순간에 1012를 받고, "
        "모든 클라이언트가 한꺼번에 돌아옵니다."
    ),
    "deploy_guarded_done": (
        "Drain이 연결 {count}개를 {spread}초에 걸쳐 닫았습니다({seconds}초 걸림). 그 뒤 새 "
        "가드가 새 인스턴스를 대신했습니다."
    ),
    "timeline_label": (
        "각 클라이언트가 언제 닫혔고 언제 연결되어 있었는지, 배포 시점부터 초 단위로"
    ),
    "timeline_client": "클라이언트 {number}",
    "timeline_seconds": "{seconds}초",
    "timeline_connected": "연결됨",
    "timeline_closed": "닫힘(1012)",
    "timeline_deploy": "배포 시점",
    "closes": "실시간 종료 기록",
    "closes_intro": (
        "/guarded와 /guarded-close로 들어온 모든 연결은 on_close를 통해 CloseRecord를 하나씩 "
        "남깁니다. 종료 코드별 개수이며 2초마다 새로 고칩니다. 그대로 마운트에는 가드가 없어 "
        "종료를 기록하는 곳이 없습니다."
    ),
    "closes_empty": "아직 기록된 종료가 없습니다. 시나리오를 실행해 보세요.",
    "closes_total": "건의 종료 기록",
    "chart_label": "코드별 종료 횟수",
    "recent": "최근 기록",
    "col_time": "시각",
    "col_path": "경로",
    "col_code": "코드",
    "col_closed_by": "종료 주체",
    "col_exception": "예외",
    "reference": "모든 종료 코드",
    "reference_intro": "코드를 고르면 의미, 보게 되는 상황, 해결 방법을 볼 수 있습니다.",
    "codes_heading": "등록된 코드",
    "app_codes_heading": "이 앱의 자체 코드",
    "app_codes_intro": (
        "데모는 이 코드들을 AppCode로 한 번만 정의합니다. 페이지, /api/codes, closeguard.js가 "
        "모두 그 설명으로 답하고, connect()로 만든 클라이언트는 그 재연결 안내를 따릅니다."
    ),
    "ranges_heading": "번호 범위",
    "compare_heading": "두 코드 비교",
    "first_code": "첫 번째 코드",
    "second_code": "두 번째 코드",
    "compare_button": "비교",
    "often_confused": "자주 헷갈리는 쌍:",
    "back": "플레이그라운드로 돌아가기",
    "api_docs": "API 문서",
    "metrics": "메트릭",
    "json": "JSON",
    "error_heading": "없는 페이지입니다",
    "error_not_a_code": "“{value}”은(는) 종료 코드가 아닙니다. 종료 코드는 1006 같은 정수입니다.",
    "error_out_of_range": (
        "종료 코드 {value}은(는) 없습니다. close 프레임에는 0부터 65535까지의 숫자만 담깁니다."
    ),
    "error_language": "“{value}” 언어의 텍스트는 없습니다. 사용할 수 있는 언어: {available}.",
    "error_not_found": (
        "여기에는 아무것도 없습니다. 플레이그라운드와 코드 설명은 첫 페이지에 있습니다."
    ),
}

#: The chrome of every language the demo speaks, keyed by language code.
CHROME: Final[Mapping[str, Mapping[str, str]]] = {"en": _EN, "ko": _KO}


def chrome(lang: str) -> Mapping[str, str]:
    """The chrome strings of ``lang``; English for a language the demo has no chrome for, so
    a language added to the knowledge texts still renders (with English buttons)."""
    return CHROME.get(lang, _EN)
