"""Every public name of ``asgi_closeguard.__all__`` answers a wrong argument type with a
:class:`TypeError` that says what it takes: walked name by name, so a new public function
cannot be left out."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import asgi_closeguard

#: A wrong call, and words the TypeError must contain.
WrongCall = tuple[tuple[Any, ...], dict[str, Any], str]

KICKED = {"name": "Kicked", "summary": "Removed.", "reconnect": "no"}

#: Each public function, with calls of the wrong type.
FUNCTIONS: dict[str, list[WrongCall]] = {
    "describe": [
        (("1006",), {}, "describe() takes a close code as an int such as 1000, not str"),
        ((True,), {}, "describe() takes a close code as an int, not a bool"),
        ((None,), {}, "describe() takes a close code as an int such as 1000, not NoneType"),
        ((1006, None), {}, "lang takes a language code as a str, one of en, ko"),
        ((1006, ["ko"]), {}, "lang takes a language code as a str"),
        ((1006,), {"app_codes": [4001]}, "app_codes takes a dict of close codes to AppCode"),
        ((1006,), {"app_codes": {"4001": None}}, "app_codes' keys are close codes as ints"),
    ],
    "compare": [
        (("1005", 1011), {}, "compare() takes a close code as an int"),
        ((1005, 1011.0), {}, "compare() takes a close code as an int such as 1000, not float"),
        ((1005, 1011, 7), {}, "lang takes a language code as a str"),
        ((1005, 1011), {"app_codes": "myapp.codes:CODES"}, "app_codes takes a dict"),
    ],
    "describe_range": [
        ((4001,), {}, "describe_range() takes a range key ('unused', "),
        ((4001,), {}, "use describe(4001).range"),
        ((None,), {}, "or a CodeRange, not NoneType"),
        (("private", None), {}, "lang takes a language code as a str"),
    ],
}

#: Public functions that answer any value by design, and what they answer a wrong type with.
PREDICATES: dict[str, list[tuple[object, object]]] = {
    # The rule the guard enforces: anything that is not an int close code may not be sent.
    "is_sendable": [("1000", False), (None, False), (True, False), (1000.0, False)],
}

#: Classes whose constructor takes the user's input, with calls of the wrong type.
CONSTRUCTORS: dict[str, list[WrongCall]] = {
    "AppCode": [
        (("Kicked", None), {"reconnect": "no"}, "AppCode's summary is a str, not NoneType"),
        ((b"Kicked", "Removed."), {"reconnect": "no"}, "AppCode's name is a str, not bytes"),
        (("Kicked", "Removed."), {"reconnect": 0}, "AppCode(reconnect=...) takes one of"),
        (("Kicked", "Removed."), {"reconnect": "no", "texts": "ko"}, "takes a dict of languages"),
        (("Kicked", "Removed."), {"reconnect": "no", "what_to_do": 1}, "takes a str, not int"),
    ],
    # The contract's "Building the guard": the app is checked when the guard is built.
    "CloseGuardMiddleware": [
        ((None,), {}, "app"),
        (("chat:app",), {}, "app"),
    ],
}

#: Every other public name, and why it takes no input to check.
NOT_CHECKED: dict[str, str] = {
    "LANGUAGES": "a constant",
    "__version__": "a constant",
    "ClosedBy": "a type",
    "GuardOptions": "a type: the guard's keyword options, for code that passes them on",
    "RefuseWith": "a type: the values refuse_with takes",
    "CloseCode": "an IntEnum: a lookup by value follows Enum (ValueError for an unknown value)",
    "CloseRecord": "built by the guard, handed to on_close",
    "CodeComparison": "built by compare()",
    "CodeDescription": "built by describe()",
    "RangeDescription": "built by describe_range()",
    "ForbiddenCloseCodeError": "an exception the guard raises",
    "WebSocketClosedError": "an exception the guard raises",
    "Drain": "takes no arguments; its start(spread=...) is checked by its own tests",
}


def public(name: str) -> Any:
    return getattr(asgi_closeguard, name)


def test_every_public_name_is_checked_or_says_why_not() -> None:
    groups = [set(FUNCTIONS), set(PREDICATES), set(CONSTRUCTORS), set(NOT_CHECKED)]
    assert sum(map(len, groups)) == len(set().union(*groups)), "a name in two groups"
    unclassified = set(asgi_closeguard.__all__) - set().union(*groups)
    assert not unclassified, f"public names without a wrong-type check: {sorted(unclassified)}"


def test_every_public_function_is_in_the_function_tables() -> None:
    functions = {name for name in asgi_closeguard.__all__ if inspect.isfunction(public(name))}
    assert functions == set(FUNCTIONS) | set(PREDICATES)


def wrong_calls(table: dict[str, list[WrongCall]]) -> list[Any]:
    return [
        pytest.param(name, args, kwargs, words, id=f"{name}-{index}")
        for name, calls in table.items()
        for index, (args, kwargs, words) in enumerate(calls)
    ]


@pytest.mark.parametrize(("name", "args", "kwargs", "words"), wrong_calls(FUNCTIONS))
def test_a_function_refuses_a_wrong_type_and_says_what_it_takes(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], words: str
) -> None:
    function: Callable[..., object] = public(name)
    with pytest.raises(TypeError) as info:
        function(*args, **kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize(("name", "args", "kwargs", "words"), wrong_calls(CONSTRUCTORS))
def test_a_constructor_refuses_a_wrong_type_and_says_what_it_takes(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], words: str
) -> None:
    with pytest.raises(TypeError) as info:
        public(name)(*args, **kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "answer"),
    [(name, value, answer) for name, cases in PREDICATES.items() for value, answer in cases],
)
def test_a_predicate_answers_a_wrong_type(name: str, value: object, answer: object) -> None:
    assert public(name)(value) == answer


def test_app_code_words_take_a_language_code() -> None:
    code = asgi_closeguard.AppCode(**KICKED)
    with pytest.raises(TypeError, match="words\\(\\) takes a language code as a str, not NoneType"):
        code.words(None)  # type: ignore[arg-type]
