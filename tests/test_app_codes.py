"""AppCode: an app's own close codes, declared once, in describe() and compare()."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from asgi_closeguard import AppCode, CloseCode, compare, describe
from asgi_closeguard._app_codes import validate_app_codes
from asgi_closeguard._knowledge import reconnect_texts

KICKED = AppCode(
    "Kicked",
    "An admin removed you from the room.",
    reconnect="no",
    texts={"ko": {"name": "강퇴됨", "summary": "관리자가 방에서 내보냈습니다."}},
)
ROOM_FULL = AppCode(
    "Room full",
    "The room has no free seat.",
    reconnect="backoff",
    what_to_do="Try another room.",
    texts={"ko": {"name": "방이 가득 참", "what_to_do": "다른 방을 고르세요."}},
)
MOVED = AppCode("Moved", "The room moved to another server.", reconnect="yes")
SIGN_IN = AppCode("Sign in again", "Your session ended.", reconnect="no")
CODES: Mapping[int, AppCode] = {4001: KICKED, 4029: ROOM_FULL, 4100: MOVED, 3000: SIGN_IN}


def english_texts() -> dict[str, str]:
    import json
    from importlib import resources

    path = resources.files("asgi_closeguard").joinpath("texts", "en.json")
    words: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))["app_code"]
    return words


# --- declaring ------------------------------------------------------------------------------


def test_an_app_code_holds_what_it_was_given() -> None:
    assert (ROOM_FULL.name, ROOM_FULL.summary, ROOM_FULL.reconnect, ROOM_FULL.what_to_do) == (
        "Room full",
        "The room has no free seat.",
        "backoff",
        "Try another room.",
    )
    assert dict(ROOM_FULL.texts["ko"]) == {
        "name": "방이 가득 참",
        "what_to_do": "다른 방을 고르세요.",
    }
    assert MOVED.what_to_do == ""
    assert dict(MOVED.texts) == {}


def test_an_app_code_is_frozen_and_its_texts_read_only() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        KICKED.reconnect = "yes"  # type: ignore[misc]
    with pytest.raises(TypeError):
        KICKED.texts["en"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        KICKED.texts["ko"]["name"] = "x"  # type: ignore[index]


def test_the_declaration_does_not_change_with_the_dict_it_came_from() -> None:
    words = {"name": "강퇴됨"}
    texts = {"ko": words}
    code = AppCode("Kicked", "Removed.", reconnect="no", texts=texts)
    words["name"] = "changed"
    texts["ko"] = {"name": "changed too"}
    assert code.words("ko")["name"] == "강퇴됨"


def test_equal_declarations_are_equal_and_hash_alike() -> None:
    twin = AppCode(
        "Kicked",
        "An admin removed you from the room.",
        reconnect="no",
        texts={"ko": {"name": "강퇴됨", "summary": "관리자가 방에서 내보냈습니다."}},
    )
    assert twin == KICKED
    assert hash(twin) == hash(KICKED)
    assert twin != dataclasses.replace(KICKED, texts={})
    assert len({KICKED, twin, MOVED}) == 2


def test_the_repr_reads_like_the_declaration() -> None:
    assert repr(MOVED) == ("AppCode('Moved', 'The room moved to another server.', reconnect='yes')")
    assert repr(ROOM_FULL) == (
        "AppCode('Room full', 'The room has no free seat.', reconnect='backoff', "
        "what_to_do='Try another room.', texts={'ko': {'name': '방이 가득 참', "
        "'what_to_do': '다른 방을 고르세요.'}})"
    )


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", ("Room full", "The room has no free seat.", "Try another room.")),
        ("ko", ("방이 가득 참", "The room has no free seat.", "다른 방을 고르세요.")),
        ("xx", ("Room full", "The room has no free seat.", "Try another room.")),
    ],
)
def test_words_fall_back_to_english_word_by_word(lang: str, expected: tuple[str, ...]) -> None:
    words = ROOM_FULL.words(lang)
    assert (words["name"], words["summary"], words["what_to_do"]) == expected


def test_reconnect_is_keyword_only() -> None:
    with pytest.raises(TypeError, match="positional"):
        AppCode("Kicked", "Removed.", "no")  # type: ignore[misc]
    with pytest.raises(TypeError, match="reconnect"):
        AppCode("Kicked", "Removed.")  # type: ignore[call-arg]


BAD_DECLARATIONS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"name": None}, TypeError, "AppCode's name is a str, not NoneType"),
    ({"name": 4001}, TypeError, "AppCode's name is a str, not int"),
    ({"name": "  "}, ValueError, "AppCode's name is empty: say what the code means"),
    ({"summary": ""}, ValueError, "AppCode's summary is empty"),
    ({"summary": b"bytes"}, TypeError, "AppCode's summary is a str, not bytes"),
    (
        {"reconnect": "maybe"},
        ValueError,
        "AppCode(reconnect=...) takes one of 'no', 'yes', 'backoff', not 'maybe'",
    ),
    ({"reconnect": "No"}, ValueError, "not 'No'"),
    ({"reconnect": False}, TypeError, "takes one of 'no', 'yes', 'backoff', not False"),
    ({"reconnect": None}, TypeError, "not None"),
    ({"what_to_do": None}, TypeError, "AppCode(what_to_do=...) takes a str, not NoneType"),
    ({"texts": None}, TypeError, "AppCode(texts=...) takes a dict of languages"),
    ({"texts": [("ko", {})]}, TypeError, "not list"),
    (
        {"texts": {"kr": {"name": "x"}}},
        ValueError,
        "AppCode(texts=...) has words for 'kr', a language there are no texts for: the "
        "languages are en, ko",
    ),
    ({"texts": {"ko": "강퇴됨"}}, TypeError, "AppCode(texts=...)['ko'] takes a dict of words"),
    (
        {"texts": {"ko": {"title": "x", "name": "y"}}},
        ValueError,
        "AppCode(texts=...)['ko'] has 'title': the words an app code has are name, summary, "
        "what_to_do",
    ),
    ({"texts": {"ko": {"name": 1}}}, TypeError, "AppCode(texts=...)['ko']'s name is a str"),
    ({"texts": {"ko": {"summary": ""}}}, ValueError, "AppCode(texts=...)['ko']'s summary is empty"),
]


@pytest.mark.parametrize(("change", "error", "message"), BAD_DECLARATIONS)
def test_a_bad_declaration_says_what_is_wrong(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"name": "Kicked", "summary": "Removed.", "reconnect": "no"}
    arguments.update(change)
    with pytest.raises(error) as info:
        AppCode(**arguments)
    assert message in str(info.value)


def test_declaring_without_texts_loads_no_texts() -> None:
    # A server that imports the app's codes does not pay for the package's texts.
    script = (
        "import sys\n"
        "from asgi_closeguard import AppCode\n"
        "AppCode('Kicked', 'Removed.', reconnect='no')\n"
        "assert 'asgi_closeguard._knowledge' not in sys.modules, 'texts loaded'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


# --- the mapping of codes ---------------------------------------------------------------------


def test_a_mapping_of_codes_is_checked_and_keyed_by_plain_ints() -> None:
    checked = validate_app_codes({CloseCode.UNAUTHORIZED: SIGN_IN, 4999: MOVED})
    assert checked == {3000: SIGN_IN, 4999: MOVED}
    assert all(type(code) is int for code in checked)


@pytest.mark.parametrize(
    ("codes", "error", "message"),
    [
        ([(4001, KICKED)], TypeError, "app_codes takes a dict of close codes to AppCode"),
        (None, TypeError, "not NoneType"),
        ({"4001": KICKED}, TypeError, "app_codes' keys are close codes as ints such as 4001"),
        ({True: KICKED}, TypeError, "not True (bool)"),
        ({4001.0: KICKED}, TypeError, "not 4001.0 (float)"),
        (
            {1000: KICKED},
            ValueError,
            "app_codes cannot declare 1000: 1000-2999 belong to the WebSocket protocol itself "
            "(RFC 6455 §7.4.1-7.4.2), and their meaning is fixed; an app's own codes are "
            "4000-4999 (private use), or 3000-3999 for codes registered with IANA",
        ),
        ({2999: KICKED}, ValueError, "cannot declare 2999: 1000-2999 belong to the WebSocket"),
        ({999: KICKED}, ValueError, "cannot declare 999: it is not a close code an endpoint"),
        ({5000: KICKED}, ValueError, "cannot declare 5000: it is not a close code"),
        ({-4001: KICKED}, ValueError, "cannot declare -4001"),
        ({4001: "Kicked"}, TypeError, "app_codes[4001] is an AppCode, not str: write AppCode("),
        ({4001: {"name": "Kicked"}}, TypeError, "app_codes[4001] is an AppCode, not dict"),
    ],
)
def test_a_bad_mapping_says_why(codes: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        validate_app_codes(codes)
    assert message in str(info.value)
    if codes is None:
        return  # None is what describe() and compare() take for "no app codes"
    with pytest.raises(error):
        describe(4001, app_codes=codes)  # type: ignore[arg-type]
    with pytest.raises(error):
        compare(4001, 1000, app_codes=codes)  # type: ignore[arg-type]


# --- describe() and compare() -----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_describe_answers_with_the_apps_words(lang: str) -> None:
    plain = describe(4029, lang)
    described = describe(4029, lang, app_codes=CODES)
    words = ROOM_FULL.words(lang)
    assert (described.name, described.summary, described.what_to_do) == (
        words["name"],
        words["summary"],
        words["what_to_do"],
    )
    assert (described.reconnect, described.reconnect_text) == (
        "backoff",
        reconnect_texts(lang)["backoff"],
    )
    assert described.app_code
    assert not plain.app_code
    # The facts about the number are the protocol's.
    for field in ("code", "constant", "lang", "registered", "sendable", "sent_by", "range"):
        assert getattr(described, field) == getattr(plain, field), field
    assert (described.reference, described.range_text) == (plain.reference, plain.range_text)


def test_describe_fills_what_the_app_left_out() -> None:
    english = english_texts()
    kicked = describe(4001, app_codes=CODES)
    assert (kicked.name, kicked.reconnect, kicked.reconnect_text) == (
        "Kicked",
        "no",
        reconnect_texts("en")["no"],
    )
    assert kicked.what_to_do == english["what_to_do"]
    assert (kicked.when_seen, kicked.when_to_send) == (
        english["when_seen"],
        english["when_to_send"],
    )
    korean = describe(4001, "ko", app_codes=CODES)
    assert (korean.name, korean.summary) == ("강퇴됨", "관리자가 방에서 내보냈습니다.")
    assert korean.what_to_do != english["what_to_do"]


def test_a_declared_registered_code_keeps_its_facts() -> None:
    described = describe(3000, app_codes=CODES)
    assert (described.name, described.reconnect, described.app_code) == (
        "Sign in again",
        "no",
        True,
    )
    assert (described.constant, described.registered, described.sent_by) == (
        "UNAUTHORIZED",
        True,
        "server",
    )
    assert described.reference == describe(3000).reference


@pytest.mark.parametrize("code", [*map(int, CloseCode), 4002, 4404, 3001, 999, 70000])
def test_every_other_code_is_described_as_without_app_codes(code: int) -> None:
    if code in CODES:
        return
    assert describe(code, app_codes=CODES) == describe(code)


def test_an_empty_mapping_changes_nothing() -> None:
    assert describe(4001, app_codes={}) == describe(4001)


def test_compare_uses_the_apps_words_for_its_codes() -> None:
    comparison = compare(4001, 4029, app_codes=CODES)
    assert (comparison.first.name, comparison.second.name) == ("Kicked", "Room full")
    assert "4001 Kicked: An admin removed you from the room." in comparison.differences
    assert comparison.differences[-1] == compare(1000, 1011).differences[-1].replace(
        "1000", "4001"
    ).replace("1011", "4029")
    assert comparison.when_to_use[0].startswith("4001 Kicked: ")
    plain = compare(4001, 4029)
    assert plain.first.name == describe(4001).name


def test_compare_leaves_out_the_pair_note_of_a_code_the_app_declared() -> None:
    # The note on 3000 and 3003 speaks of their registered meanings, which the app replaced.
    note = compare(3000, 3003).differences[0]
    assert "3000" in note
    assert "3003" in note
    declared = compare(3000, 3003, app_codes={3000: SIGN_IN})
    assert note not in declared.differences
    assert declared.differences[0] == "3000 Sign in again: Your session ended."
    assert (declared.first.app_code, declared.second.app_code) == (True, False)


def test_compare_keeps_the_pair_note_of_codes_the_app_did_not_declare() -> None:
    assert compare(1005, 1011, app_codes=CODES) == compare(1005, 1011)
