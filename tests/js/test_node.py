"""The module ``export-js`` prints, loaded by Node.js: every answer equals Python's describe().

One Node.js process answers every question at once (tests/js/answers.mjs), so the whole file
costs one start of Node. Node is ``/usr/bin/node`` (``NODE`` overrides it); a missing Node is a
failure with a clear message, never a skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from asgi_closeguard import LANGUAGES, AppCode, CloseCode, describe, is_sendable
from asgi_closeguard._codes import CODE_RANGES
from asgi_closeguard._export_js import export_js
from asgi_closeguard._knowledge import reconnect_for

ANSWERS_SCRIPT = Path(__file__).with_name("answers.mjs")
LARGEST_WIRE_CODE = 0xFFFF
NODE_TIMEOUT_SECONDS = 60

#: Numbers that stand for each band: its ends, one inside, and what lies beyond every band.
BAND_SAMPLES = (0, 500, 999, 1016, 2000, 2999, 3001, 3999, 4000, 4404, 4999, 5000, 65535, -1)
CODES = (*(int(code) for code in CloseCode), *BAND_SAMPLES)

#: Values describeClose() must refuse, and the error it refuses them with.
REFUSED = (
    ([True, "en"], "TypeError"),
    (["1006", "en"], "TypeError"),
    ([1006.5, "en"], "TypeError"),
    ([None, "en"], "TypeError"),
    ([{"code": "1006"}, "en"], "TypeError"),
    ([{}, "en"], "TypeError"),
    ([1006, "fr"], "RangeError"),
    ([1006, "EN"], "RangeError"),
    ([1006, None], "RangeError"),
)


def node_executable() -> str:
    path = os.environ.get("NODE") or "/usr/bin/node"
    assert Path(path).is_file(), (
        f"Node.js not found at {path!r}: install Debian's nodejs package or set NODE"
    )
    return path


def ask_node(module: Path, questions: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [node_executable(), str(ANSWERS_SCRIPT), str(module)],
        input=json.dumps(questions),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers: dict[str, Any] = json.loads(result.stdout)
    return answers


def expected_answer(
    code: int, lang: str, app_codes: dict[int, AppCode] | None = None
) -> dict[str, Any]:
    """What describeClose() must say, from Python's describe()."""
    d = describe(code, lang, app_codes=app_codes)
    return {
        "code": code,
        "name": d.name,
        "summary": d.summary,
        "whenSeen": d.when_seen,
        "whatToDo": d.what_to_do,
        "reconnect": d.reconnect,
        "sendable": d.sendable,
        "shouldReconnect": d.reconnect != "no",
        "reconnectText": d.reconnect_text,
    }


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    module = tmp_path_factory.mktemp("js") / "closeguard.js"
    module.write_text(export_js(), encoding="utf-8")
    # Each code asked as a number and as a CloseEvent-like object, in every language.
    questions = {
        "describe": [
            [question, lang]
            for lang in LANGUAGES
            for code in CODES
            for question in (code, {"code": code, "reason": "", "wasClean": True})
        ],
        "errors": [question for question, _ in REFUSED],
        "every_number": [0, LARGEST_WIRE_CODE],
    }
    return {"questions": questions, **ask_node(module, questions)}


def test_the_module_exports_the_documented_names(answers: dict[str, Any]) -> None:
    assert answers["exports"] == [
        "DEFAULT_LANGUAGE",
        "LANGUAGES",
        "connect",
        "describeClose",
        "reconnectText",
        "shouldReconnect",
    ]
    assert answers["languages"] == list(LANGUAGES)
    assert answers["defaultLanguage"] == "en"


def test_every_answer_equals_describe_in_every_language(answers: dict[str, Any]) -> None:
    asked = answers["questions"]["describe"]
    assert len(answers["describe"]) == len(asked) == 2 * len(CODES) * len(LANGUAGES)
    for (question, lang), answer in zip(asked, answers["describe"], strict=True):
        code = question["code"] if isinstance(question, dict) else question
        assert answer == expected_answer(code, lang), (question, lang)


def test_the_default_language_is_english(answers: dict[str, Any]) -> None:
    asked = [question for question, _ in answers["questions"]["describe"]]
    codes = [question["code"] if isinstance(question, dict) else question for question in asked]
    described = [expected_answer(code, "en") for code in codes]
    for answer in described:
        del answer["shouldReconnect"], answer["reconnectText"]
    assert answers["defaults"] == described


def test_every_number_a_close_frame_can_carry_has_pythons_rules(answers: dict[str, Any]) -> None:
    expected = "".join(
        reconnect_for(code)[0].upper() if is_sendable(code) else reconnect_for(code)[0]
        for code in range(LARGEST_WIRE_CODE + 1)
    )
    assert answers["everyNumber"] == expected


def test_the_samples_reach_every_band() -> None:
    # So that each band's texts, not only its rules, are compared in Node.
    assert {describe(code).range for code in BAND_SAMPLES} == {band.key for band in CODE_RANGES}


def test_bad_input_is_refused_like_describe_refuses_it(answers: dict[str, Any]) -> None:
    for (question, error), failure in zip(REFUSED, answers["errors"], strict=True):
        assert failure["error"] == error, question
    messages = [failure["message"] for failure in answers["errors"]]
    assert messages[0] == "a close code is a whole number such as 1000, or a CloseEvent; got true"
    assert messages[-3] == 'unknown language "fr": available languages are en, ko'


def test_a_module_with_one_language_refuses_the_others(tmp_path: Path) -> None:
    module = tmp_path / "closeguard.ko.js"
    module.write_text(export_js(["ko"]), encoding="utf-8")
    answers = ask_node(
        module,
        {"describe": [[1012, "ko"]], "errors": [[1012, "en"]], "every_number": [1000, 1000]},
    )
    assert answers["languages"] == ["ko"]
    assert answers["describe"] == [expected_answer(1012, "ko")]
    assert answers["defaults"][0]["name"] == describe(1012, "ko").name
    assert answers["errors"][0]["error"] == "RangeError"


#: An app's declarations, one of each kind, and one that replaces a registered code's words.
APP_CODES = {
    3000: AppCode("Sign in again", "Your session ended.", reconnect="no"),
    4001: AppCode(
        "Kicked",
        "An admin removed you from the room.",
        reconnect="no",
        texts={"ko": {"name": "강퇴됨", "summary": "관리자가 방에서 내보냈습니다."}},
    ),
    4029: AppCode(
        "Room full", "The room has no free seat.", reconnect="backoff", what_to_do="Try later."
    ),
    4100: AppCode("Moved", "The room moved: come back.", reconnect="yes"),
}


def test_the_apps_codes_are_baked_in_and_agree_with_describe(tmp_path: Path) -> None:
    module = tmp_path / "closeguard.app.js"
    module.write_text(export_js(app_codes=APP_CODES), encoding="utf-8")
    codes = [*APP_CODES, 1000, 1012, 3003, 4002, 4404]
    questions = {
        "describe": [[code, lang] for lang in LANGUAGES for code in codes],
        "errors": [],
        "every_number": [0, LARGEST_WIRE_CODE],
    }
    answers = ask_node(module, questions)
    expected = [expected_answer(code, lang, APP_CODES) for lang in LANGUAGES for code in codes]
    assert answers["describe"] == expected
    by_code = {answer["code"]: answer for answer in answers["describe"][: len(codes)]}
    assert by_code[4001]["name"] == "Kicked"
    assert by_code[4001]["shouldReconnect"] is False
    assert by_code[3000]["name"] == "Sign in again"
    assert by_code[4404]["reconnect"] == "backoff"
    # Every other number keeps the package's rules.
    rules = "".join(
        describe(code, app_codes=APP_CODES).reconnect[0].upper()
        if is_sendable(code)
        else reconnect_for(code)[0]
        for code in range(LARGEST_WIRE_CODE + 1)
    )
    assert answers["everyNumber"] == rules


def test_the_module_says_which_app_codes_it_holds() -> None:
    assert "With the app's own codes: 3000, 4001, 4029, 4100." in export_js(app_codes=APP_CODES)
    assert "With the app's own codes" not in export_js()
