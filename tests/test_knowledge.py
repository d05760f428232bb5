"""describe(), describe_range() and compare(): every number explained, in every language."""

from __future__ import annotations

import dataclasses
import json
import re
import string
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import asgi_closeguard
from asgi_closeguard import (
    LANGUAGES,
    CloseCode,
    CodeComparison,
    CodeDescription,
    RangeDescription,
    _knowledge,
    compare,
    describe,
    describe_range,
    is_sendable,
)
from asgi_closeguard._codes import CODE_RANGES
from asgi_closeguard._knowledge import reconnect_for, reconnect_texts

LARGEST_WIRE_CODE = 0xFFFF
TEXT_FIELDS = ("name", "summary", "when_seen", "what_to_do", "when_to_send")
RECONNECTS = ("no", "yes", "backoff")
RFC_DEFINED = ("RFC 6455 §7.4.1", "https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1")
RFC_RANGES = ("RFC 6455 §7.4.2", "https://www.rfc-editor.org/rfc/rfc6455#section-7.4.2")
IANA = (
    "IANA WebSocket Close Code Number Registry",
    "https://www.iana.org/assignments/websocket/websocket.xhtml#close-code-number",
)


def load_language_file(lang: str) -> dict[str, Any]:
    path = resources.files("asgi_closeguard").joinpath("texts").joinpath(f"{lang}.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def key_paths(value: object, prefix: str = "") -> set[str]:
    """Every key of a nested JSON object, as dotted paths."""
    if not isinstance(value, dict):
        return set()
    paths = set()
    for key, child in value.items():
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        paths |= key_paths(child, path)
    return paths


def string_values(value: object) -> list[str]:
    if isinstance(value, dict):
        return [text for child in value.values() for text in string_values(child)]
    assert isinstance(value, str)
    return [value]


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# --- every number ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_number_a_close_frame_can_carry_is_described(lang: str) -> None:
    reconnect_words = load_language_file(lang)["reconnect"]
    for code in range(LARGEST_WIRE_CODE + 1):
        description = describe(code, lang)
        assert description.code == code
        assert description.sendable == is_sendable(code), code
        assert description.registered == (code in set(CloseCode))
        assert description.summary
        assert description.reconnect in RECONNECTS
        assert description.reconnect_text == reconnect_words[description.reconnect]


@pytest.mark.parametrize(
    "code", [-1, -1000, -(2**70), 5000, 9999, LARGEST_WIRE_CODE, LARGEST_WIRE_CODE + 1, 10**30]
)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_negative_and_huge_numbers_are_out_of_range(code: int, lang: str) -> None:
    description = describe(code, lang)
    band = describe_range("out_of_range", lang)
    assert description.code == code
    assert description.range == "out_of_range"
    assert description.range_text == band.range_text
    assert (description.name, description.summary) == (band.name, band.summary)
    assert not description.sendable
    assert not description.registered
    assert description.constant is None
    assert description.sent_by == "never"
    assert (description.reference, description.reference_url) == RFC_RANGES


@pytest.mark.parametrize(
    ("code", "range_key"),
    [
        (0, "unused"),
        (999, "unused"),
        (1000, "protocol"),
        (1004, "protocol"),
        (1016, "protocol"),
        (2999, "protocol"),
        (3000, "iana"),
        (3001, "iana"),
        (3999, "iana"),
        (4000, "private"),
        (4999, "private"),
        (5000, "out_of_range"),
        (-1, "out_of_range"),
    ],
)
def test_range_boundaries(code: int, range_key: str) -> None:
    assert describe(code).range == range_key


@pytest.mark.parametrize(
    ("code", "range_key", "sendable"),
    [
        (1016, "protocol", False),
        (2999, "protocol", False),
        (3001, "iana", True),
        (4404, "private", True),
        (500, "unused", False),
    ],
)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_unregistered_code_gets_its_ranges_texts(
    code: int, range_key: str, sendable: bool, lang: str
) -> None:
    description = describe(code, lang)
    band = describe_range(range_key, lang)
    assert not description.registered
    assert description.constant is None
    assert description.sendable is sendable
    for field in TEXT_FIELDS:
        assert getattr(description, field) == getattr(band, field)
    assert description.sent_by == ("either" if sendable else "never")


# --- registered codes ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("code", list(CloseCode), ids=lambda code: str(int(code)))
def test_every_registered_code_has_every_field(code: CloseCode, lang: str) -> None:
    description = describe(code, lang)
    for field in dataclasses.fields(CodeDescription):
        value = getattr(description, field.name)
        assert value is not None, field.name
        assert value != "", field.name
    assert description.registered
    assert description.constant == code.name
    assert description.lang == lang
    # A CloseCode member comes back as a plain int, so records serialise as plain numbers.
    assert type(description.code) is int


@pytest.mark.parametrize(
    ("code", "sent_by"),
    [
        (1000, "either"),
        (1001, "either"),
        (1002, "either"),
        (1003, "either"),
        (1004, "never"),
        (1005, "never"),
        (1006, "never"),
        (1007, "either"),
        (1008, "either"),
        (1009, "either"),
        (1010, "client"),
        (1011, "either"),
        (1012, "server"),
        (1013, "server"),
        (1014, "server"),
        (1015, "never"),
        (3000, "server"),
        (3003, "server"),
        (3008, "either"),
        (3001, "either"),
        (4000, "either"),
        (999, "never"),
        (2000, "never"),
    ],
)
def test_who_sends_each_code(code: int, sent_by: str) -> None:
    description = describe(code)
    assert description.sent_by == sent_by
    assert description.sent_by_text == load_language_file("en")["sent_by"][sent_by]


@pytest.mark.parametrize(
    ("code", "reference"),
    [
        (1000, RFC_DEFINED),
        (1006, RFC_DEFINED),
        (1011, RFC_DEFINED),
        (1015, RFC_DEFINED),
        (1012, IANA),
        (1014, IANA),
        (3000, IANA),
        (3008, IANA),
        (1016, RFC_RANGES),
        (4001, RFC_RANGES),
    ],
)
def test_references(code: int, reference: tuple[str, str]) -> None:
    description = describe(code)
    assert (description.reference, description.reference_url) == reference


# --- reconnecting -------------------------------------------------------------------------------

# Every registered code and every band, with what a reconnecting client does after it; the
# reasons are in docs/reconnecting.md, which test_the_reconnect_doc_covers_every_code checks.
RECONNECT_BY_CODE = {
    1000: "no",
    1001: "yes",
    1002: "no",
    1003: "no",
    1004: "no",
    1005: "no",
    1006: "backoff",
    1007: "no",
    1008: "no",
    1009: "no",
    1010: "no",
    1011: "backoff",
    1012: "yes",
    1013: "backoff",
    1014: "backoff",
    1015: "no",
    3000: "no",
    3003: "no",
    3008: "backoff",
}
RECONNECT_BY_RANGE = {
    "unused": "no",
    "protocol": "no",
    "iana": "backoff",
    "private": "backoff",
    "out_of_range": "no",
}
RECONNECT_DOC = Path(__file__).parents[1] / "docs" / "reconnecting.md"


def test_every_registered_code_has_a_reconnect_rule() -> None:
    assert set(RECONNECT_BY_CODE) == {int(code) for code in CloseCode}
    assert set(RECONNECT_BY_RANGE) == {band.key for band in CODE_RANGES}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("code", "reconnect"), RECONNECT_BY_CODE.items())
def test_reconnect_after_each_registered_code(code: int, reconnect: str, lang: str) -> None:
    description = describe(code, lang)
    assert description.reconnect == reconnect == reconnect_for(code)
    assert description.reconnect_text == reconnect_texts(lang)[reconnect]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("key", "reconnect"), RECONNECT_BY_RANGE.items())
def test_an_unregistered_code_reconnects_like_its_range(
    key: str, reconnect: str, lang: str
) -> None:
    band = describe_range(key, lang)
    assert (band.reconnect, band.reconnect_text) == (reconnect, reconnect_texts(lang)[reconnect])
    numbers = [-1, 70000] if band.first is None or band.last is None else [band.first, band.last]
    for number in numbers:
        if number not in RECONNECT_BY_CODE:
            assert describe(number, lang).reconnect == reconnect, number


def test_the_rules_the_client_libraries_agree_on() -> None:
    # The only common ground of the reconnecting clients docs/reconnecting.md surveys.
    assert describe(1000).reconnect == "no"
    assert all(describe(code).reconnect != "no" for code in (1006, 1012, 1013))
    # And what the project promises on top of it.
    assert [describe(code).reconnect for code in (1003, 1008)] == ["no", "no"]
    assert all(describe(code).reconnect != "no" for code in (1001, 1011, 1014))


@pytest.mark.parametrize("code", [CloseCode.SERVICE_RESTART, 1012])
def test_reconnect_for_takes_a_code_or_a_member(code: int) -> None:
    assert reconnect_for(code) == "yes"


@pytest.mark.parametrize("value", [True, "1012", 1012.0, None])
def test_reconnect_for_takes_only_ints(value: object) -> None:
    with pytest.raises(TypeError, match="reconnect_for\\(\\) takes a close code as an int"):
        reconnect_for(value)  # type: ignore[arg-type]


def test_reconnect_texts_check_the_language() -> None:
    assert set(reconnect_texts("ko")) == set(RECONNECTS)
    with pytest.raises(ValueError, match="available languages are en, ko"):
        reconnect_texts("fr")


def test_the_reconnect_doc_covers_every_code() -> None:
    doc = RECONNECT_DOC.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `?([0-9<>, -]+)`? \| `(no|yes|backoff)` \|", doc, re.MULTILINE))
    expected = {str(code): reconnect for code, reconnect in RECONNECT_BY_CODE.items()}
    for key, reconnect in RECONNECT_BY_RANGE.items():
        band = describe_range(key)
        span = "<0, >4999" if band.first is None else f"{band.first}-{band.last}"
        expected[span] = reconnect
    assert rows == expected


def test_descriptions_are_frozen() -> None:
    description = describe(1000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        description.code = 1001  # type: ignore[misc]


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "not a bool"),
        (False, "not a bool"),
        ("1006", "convert text first, e.g. int('1006')"),
        (1006.0, "not float"),
        (None, "not NoneType"),
        (b"1006", "not bytes"),
    ],
)
def test_describe_takes_only_ints(value: object, message: str) -> None:
    with pytest.raises(TypeError, match="describe\\(\\) takes a close code as an int") as info:
        describe(value)  # type: ignore[arg-type]
    assert message in str(info.value)


@pytest.mark.parametrize("lang", ["fr", "", "EN", "en-US"])
def test_an_unknown_language_names_the_available_ones(lang: str) -> None:
    with pytest.raises(ValueError, match="available languages are en, ko") as info:
        describe(1000, lang)
    assert repr(lang) in str(info.value)


@pytest.mark.parametrize("lang", [None, b"en", 1, ["en"]])
def test_a_language_is_a_str(lang: object) -> None:
    for call in (
        lambda: describe(1000, lang),  # type: ignore[arg-type]
        lambda: compare(1000, 1001, lang),  # type: ignore[arg-type]
        lambda: describe_range("private", lang),  # type: ignore[arg-type]
        lambda: reconnect_texts(lang),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match="lang takes a language code as a str, one of en, ko"):
            call()


@pytest.mark.parametrize(
    ("band", "hint"),
    [
        (4001, "; for the range 4001 falls in, use describe(4001).range"),
        (True, ""),
        (None, ""),
        (4001.0, ""),
    ],
)
def test_describe_range_takes_a_key_or_a_band(band: object, hint: str) -> None:
    with pytest.raises(TypeError) as info:
        describe_range(band)  # type: ignore[arg-type]
    assert str(info.value) == (
        "describe_range() takes a range key ('unused', 'protocol', 'iana', 'private', "
        f"'out_of_range') or a CodeRange, not {type(band).__name__}{hint}"
    )


# --- the language files ------------------------------------------------------------------------


def test_languages_are_the_files_shipped() -> None:
    directory = resources.files("asgi_closeguard").joinpath("texts")
    shipped = sorted(
        entry.name.removesuffix(".json")
        for entry in directory.iterdir()
        if entry.name.endswith(".json")
    )
    assert list(LANGUAGES) == shipped
    assert {"en", "ko"} <= set(LANGUAGES)
    assert asgi_closeguard.LANGUAGES is LANGUAGES


def test_a_new_language_is_a_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "en.json").write_text("{}", encoding="utf-8")
    (tmp_path / "xx.json").write_text("{}", encoding="utf-8")
    (tmp_path / "README.txt").write_text("not a language", encoding="utf-8")
    monkeypatch.setattr(_knowledge, "_texts_directory", lambda: tmp_path)
    assert _knowledge._discover_languages() == ("en", "xx")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_file_has_exactly_the_keys_of_english(lang: str) -> None:
    assert key_paths(load_language_file(lang)) == key_paths(load_language_file("en"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_is_a_non_empty_string(lang: str) -> None:
    for text in string_values(load_language_file(lang)):
        assert text, repr(text)
        assert text.strip() == text, repr(text)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_files_know_exactly_the_registered_codes_and_ranges(lang: str) -> None:
    data = load_language_file(lang)
    assert set(data["codes"]) == {str(int(code)) for code in CloseCode}
    assert set(data["ranges"]) == {band.key for band in CODE_RANGES}
    registered = {int(code) for code in CloseCode}
    for pair in data["pairs"]:
        low, high = (int(code) for code in pair.split(" "))
        # Stored once, smaller code first: compare() looks pairs up that way.
        assert low < high
        assert {low, high} <= registered


@pytest.mark.parametrize("lang", LANGUAGES)
def test_templates_use_the_same_placeholders_as_english(lang: str) -> None:
    english = load_language_file("en")["compare"]
    for key, template in load_language_file(lang)["compare"].items():
        assert placeholders(template) == placeholders(english[key]), key


def test_korean_is_korean() -> None:
    for code in CloseCode:
        description = describe(code, "ko")
        for field in (*TEXT_FIELDS, "reconnect_text"):
            text = getattr(description, field)
            assert any("\uac00" <= char <= "\ud7a3" for char in text), (code, field)


# --- ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "sendable"),
    [
        ("unused", False),
        ("protocol", False),
        ("iana", True),
        ("private", True),
        ("out_of_range", False),
    ],
)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_range_is_described(key: str, sendable: bool, lang: str) -> None:
    band = next(band for band in CODE_RANGES if band.key == key)
    by_key, by_band = describe_range(key, lang), describe_range(band, lang)
    assert by_key == by_band
    assert by_key.sendable is sendable
    assert (by_key.first, by_key.last) == (band.first, band.last)
    for field in dataclasses.fields(RangeDescription):
        if field.name not in ("first", "last"):
            assert getattr(by_key, field.name) not in (None, ""), field.name


def test_an_unknown_range_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown range 'public': the ranges are unused, "):
        describe_range("public")


def test_describe_range_checks_the_language() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        describe_range("private", "xx")


# --- compare -----------------------------------------------------------------------------------


def sentences(lang: str) -> dict[str, str]:
    templates: dict[str, str] = load_language_file(lang)["compare"]
    return templates


def test_compare_1005_and_1011_like_the_page_does() -> None:
    comparison = compare(1005, 1011)
    assert isinstance(comparison, CodeComparison)
    assert comparison.first == describe(1005)
    assert comparison.second == describe(1011)
    assert comparison.differences == (
        load_language_file("en")["pairs"]["1005 1011"],
        f"1005 No Status Received: {describe(1005).summary}",
        f"1011 Internal Error: {describe(1011).summary}",
        sentences("en")["wire_one"].format(sendable=1011, unsendable=1005),
        sentences("en")["reconnect_different"].format(
            a=1005,
            b=1011,
            reconnect_a=describe(1005).reconnect_text,
            reconnect_b=describe(1011).reconnect_text,
        ),
    )
    assert comparison.when_to_use == (
        f"1005 No Status Received: {describe(1005).when_to_send}",
        f"1011 Internal Error: {describe(1011).when_to_send}",
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compare_finds_a_pair_note_in_either_order(lang: str) -> None:
    note = load_language_file(lang)["pairs"]["1005 1011"]
    assert compare(1011, 1005, lang).differences[0] == note
    assert compare(1011, 1005, lang).first.code == 1011


@pytest.mark.parametrize(
    ("a", "b", "expected", "unexpected"),
    [
        (
            1000,
            1003,
            ["wire_both", "sender_same", "reconnect_same"],
            ["sender_different", "range_different", "reconnect_different"],
        ),
        (
            1000,
            1012,
            ["wire_both", "sender_different", "reconnect_different"],
            ["sender_same", "range_different", "reconnect_same"],
        ),
        (
            1005,
            1006,
            ["wire_neither", "reconnect_different"],
            ["sender_same", "sender_different", "range_different"],
        ),
        (
            1000,
            4001,
            ["wire_both", "sender_same", "range_different", "reconnect_different"],
            ["sender_different"],
        ),
        (1006, 2000, ["wire_neither"], ["range_different", "sender_same"]),
        (999, 1011, ["wire_one", "range_different"], ["sender_same", "sender_different"]),
        (1011, 1013, ["reconnect_same"], ["reconnect_different"]),
    ],
)
def test_compare_says_what_differs(
    a: int, b: int, expected: list[str], unexpected: list[str]
) -> None:
    differences = compare(a, b).differences
    first, second = describe(a), describe(b)
    rendered = {
        "wire_both": sentences("en")["wire_both"].format(a=a, b=b),
        "wire_neither": sentences("en")["wire_neither"].format(a=a, b=b),
        "wire_one": sentences("en")["wire_one"].format(
            sendable=b if second.sendable else a, unsendable=a if second.sendable else b
        ),
        "sender_same": sentences("en")["sender_same"].format(a=a, b=b, sender=first.sent_by_text),
        "sender_different": sentences("en")["sender_different"].format(
            a=a, b=b, sender_a=first.sent_by_text, sender_b=second.sent_by_text
        ),
        "range_different": sentences("en")["range_different"].format(
            a=a, b=b, range_a=first.range_text, range_b=second.range_text
        ),
        "reconnect_same": sentences("en")["reconnect_same"].format(
            a=a, b=b, reconnect=first.reconnect_text
        ),
        "reconnect_different": sentences("en")["reconnect_different"].format(
            a=a, b=b, reconnect_a=first.reconnect_text, reconnect_b=second.reconnect_text
        ),
    }
    for key in expected:
        assert rendered[key] in differences, key
    for key in unexpected:
        assert rendered[key] not in differences, key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compare_a_code_with_itself(lang: str) -> None:
    comparison = compare(1000, CloseCode.NORMAL_CLOSURE, lang)
    assert comparison.first == comparison.second
    assert comparison.differences == (sentences(lang)["same"].format(code=1000),)
    assert len(comparison.when_to_use) == 1


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compare_leaves_no_placeholder_unfilled(lang: str) -> None:
    names = {name for template in sentences(lang).values() for name in placeholders(template)}
    codes = [*CloseCode, 0, 2000, 3001, 4001, 70000]
    for a in codes:
        for b in codes:
            comparison = compare(a, b, lang)
            for sentence in comparison.differences + comparison.when_to_use:
                # Texts may hold braces ({TimeoutError: 1013}); only placeholders may not.
                assert not any(f"{{{name}}}" in sentence for name in names), (a, b, sentence)


@pytest.mark.parametrize(("a", "b"), [(True, 1000), (1000, "1011"), (None, None)])
def test_compare_takes_only_ints(a: object, b: object) -> None:
    with pytest.raises(TypeError, match="compare\\(\\) takes a close code as an int"):
        compare(a, b)  # type: ignore[arg-type]


def test_compare_checks_the_language() -> None:
    with pytest.raises(ValueError, match="available languages are en, ko"):
        compare(1000, 1001, "de")
