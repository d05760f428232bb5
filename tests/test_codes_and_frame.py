"""The code table and the reason rules, as tables (RFC 6455 §5.5, §7.4)."""

from __future__ import annotations

import pytest

from asgi_closeguard import CloseCode, is_sendable
from asgi_closeguard._codes import (
    CODE_RANGES,
    LOCAL_ONLY_CODES,
    code_range,
    replacement_code,
    why_not_sendable,
)
from asgi_closeguard._frame import MAX_REASON_BYTES, TRUNCATION_MARK, normalise_reason

# (value, may it go on the wire?) — the contract's "Codes" table, edge by edge.
SENDABLE_TABLE = [
    (1000, True),
    (1001, True),
    (1002, True),
    (1003, True),
    (1004, False),
    (1005, False),
    (1006, False),
    (1007, True),
    (1011, True),
    (1014, True),
    (1015, False),
    (1016, False),
    (2999, False),
    (3000, True),
    (3999, True),
    (4000, True),
    (4999, True),
    (5000, False),
    (65535, False),
    (65536, False),
    (999, False),
    (0, False),
    (-1, False),
    (True, False),
    (False, False),
    (None, False),
    (1000.0, False),
    ("1000", False),
    (b"1000", False),
    (CloseCode.INTERNAL_ERROR, True),
    (CloseCode.NO_STATUS_RECEIVED, False),
]


@pytest.mark.parametrize(("value", "sendable"), SENDABLE_TABLE)
def test_is_sendable(value: object, sendable: bool) -> None:
    assert is_sendable(value) is sendable
    assert (why_not_sendable(value) is None) is sendable


def test_every_int_agrees_with_the_ranges() -> None:
    for code in range(-10, 70_000):
        expected = code in {1000, 1001, 1002, 1003, *range(1007, 1015)} or 3000 <= code <= 4999
        assert is_sendable(code) is expected, code


@pytest.mark.parametrize(
    ("value", "replacement", "rule_mentions"),
    [
        (1005, 1000, "only reported locally"),
        (CloseCode.NO_STATUS_RECEIVED, 1000, "only reported locally"),
        (1006, 1011, "only reported locally"),
        (1015, 1011, "only reported locally"),
        (1004, 1011, "reserved"),
        (2000, 1011, "future versions"),
        (999, 1011, "0-999 unused"),
        (0, 1011, "0-999 unused"),
        (5000, 1011, "outside every range"),
        (-1, 1011, "outside every range"),
        (True, 1011, "bool"),
        ("1000", 1011, "not str"),
        (1000.0, 1011, "not float"),
        (None, 1011, "not NoneType"),
    ],
)
def test_replacement_and_rule(value: object, replacement: int, rule_mentions: str) -> None:
    assert replacement_code(value) == replacement
    assert rule_mentions in (why_not_sendable(value) or "")


def test_local_only_codes() -> None:
    assert {1005, 1006, 1015} == LOCAL_ONLY_CODES


@pytest.mark.parametrize(
    ("code", "key"),
    [
        (0, "unused"),
        (999, "unused"),
        (1000, "protocol"),
        (2999, "protocol"),
        (3000, "iana"),
        (3999, "iana"),
        (4000, "private"),
        (4999, "private"),
        (5000, "out_of_range"),
        (-1, "out_of_range"),
        (10**9, "out_of_range"),
    ],
)
def test_code_range(code: int, key: str) -> None:
    band = code_range(code)
    assert band.key == key
    assert code in band
    assert all(code not in other for other in CODE_RANGES if other is not band)


def test_non_codes_are_in_no_range() -> None:
    assert all(value not in band for band in CODE_RANGES for value in (True, None, 1000.0))


# (reason the app gave, reason that must reach the server)
REASON_TABLE = [
    (None, ""),
    ("", ""),
    ("bye", "bye"),
    ("é" * 61, "é" * 61),  # 122 bytes: fits
    ("x" * MAX_REASON_BYTES, "x" * MAX_REASON_BYTES),
    ("x" * 124, "x" * 120 + TRUNCATION_MARK),
    ("é" * 62, "é" * 60 + TRUNCATION_MARK),  # 124 bytes: cut between characters
    ("€" * 50, "€" * 40 + TRUNCATION_MARK),  # 3-byte characters
    ("😀" * 40, "😀" * 30 + TRUNCATION_MARK),  # 4-byte characters
    ("a\ud800b", "a\ufffdb"),  # lone high surrogate
    ("\udc00", "\ufffd"),  # lone low surrogate
    ("\ud83d\ude00", "😀"),  # a surrogate pair that makes a character
    (b"bytes", "bytes"),
    (b"\xff", "\ufffd"),
    (bytearray(b"ba"), "ba"),
    (
        [{"loc": ["query", "q"], "msg": "Field required"}],
        '[{"loc":["query","q"],"msg":"Field required"}]',
    ),
    ({"a": 1}, '{"a":1}'),
    ({1: "a"}, '{"1":"a"}'),
    ({(1, 2): "a"}, "{(1, 2): 'a'}"),  # not JSON-able: repr
    (12, "12"),
    (["ü"], '["ü"]'),
]


@pytest.mark.parametrize(("given", "sent"), REASON_TABLE)
def test_normalise_reason(given: object, sent: str) -> None:
    result = normalise_reason(given)
    assert result == sent
    assert type(result) is str
    assert len(result.encode("utf-8")) <= MAX_REASON_BYTES


def test_str_subclass_becomes_str() -> None:
    class Text(str):
        pass

    result = normalise_reason(Text("hi"))
    assert type(result) is str
    assert result == "hi"


def test_circular_reason_does_not_fail() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert normalise_reason(loop) == "[[...]]"


def test_unknown_objects_become_text() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing"

    assert normalise_reason([Thing()]) == '["thing"]'
