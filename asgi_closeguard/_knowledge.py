"""Close-code knowledge: what a WebSocket close code means, and what to do about it.

:func:`describe` explains any int, :func:`compare` sets two codes side by side and
:func:`describe_range` explains a band of RFC 6455 §7.4.2. The facts — which codes are
registered, which may be sent — come from :mod:`asgi_closeguard._codes`, the one table of codes.
The words live in ``texts/<lang>.json``, one file per language, so that a new language is a
new data file and nothing else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Final, Literal, cast

from ._app_codes import AppCode, Reconnect, validate_app_codes
from ._codes import CODE_RANGES, CloseCode, CodeRange, code_range, is_sendable

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = [
    "LANGUAGES",
    "CodeComparison",
    "CodeDescription",
    "RangeDescription",
    "Reconnect",
    "SentBy",
    "compare",
    "describe",
    "describe_range",
    "interface_texts",
    "reconnect_for",
    "reconnect_texts",
    "validate_language",
]

#: Who puts a code in a close frame: the client, the server, either side, or nobody (the code
#: is only reported locally, or is not allowed on the wire at all).
SentBy = Literal["client", "server", "either", "never"]

_PACKAGE: Final = "asgi_closeguard"
_TEXTS_DIRECTORY: Final = "texts"

_RFC_DEFINED: Final = "RFC 6455 §7.4.1"
_RFC_DEFINED_URL: Final = "https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1"
_RFC_RANGES: Final = "RFC 6455 §7.4.2"
_RFC_RANGES_URL: Final = "https://www.rfc-editor.org/rfc/rfc6455#section-7.4.2"
_IANA_REGISTRY: Final = "IANA WebSocket Close Code Number Registry"
_IANA_REGISTRY_URL: Final = (
    "https://www.iana.org/assignments/websocket/websocket.xhtml#close-code-number"
)

_REGISTERED_CODES: Final[frozenset[int]] = frozenset(CloseCode)
# Codes that came after RFC 6455, through the IANA registry alone.
_REGISTERED_AFTER_RFC: Final[frozenset[int]] = frozenset(
    {
        CloseCode.SERVICE_RESTART,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.BAD_GATEWAY,
        CloseCode.UNAUTHORIZED,
        CloseCode.FORBIDDEN,
        CloseCode.TIMEOUT,
    }
)
# Who sends what, for the sendable codes whose meaning only makes sense from one side. Every
# other sendable code may come from either side: even 1011, which RFC 6455 words as a server's
# code, is sent by clients too (python-websockets fails a connection whose keepalive pings go
# unanswered with 1011).
_SENT_BY_CLIENT: Final[frozenset[int]] = frozenset({CloseCode.MANDATORY_EXTENSION})
_SENT_BY_SERVER: Final[frozenset[int]] = frozenset(
    {
        CloseCode.SERVICE_RESTART,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.BAD_GATEWAY,
        CloseCode.UNAUTHORIZED,
        CloseCode.FORBIDDEN,
    }
)
# What a client does after each registered code; every other number follows its band below.
# The value is a fact about the code, the same in every language; docs/reconnecting.md gives the
# reasons and the client libraries each one agrees or disagrees with.
_RECONNECT_BY_CODE: Final[Mapping[int, Reconnect]] = {
    CloseCode.NORMAL_CLOSURE: "no",
    # A server going away is one instance draining: another answers, or this one is back soon.
    CloseCode.GOING_AWAY: "yes",
    # Protocol and data errors repeat on the next connection: the same client sends the same
    # frames. A person has to change the code or the limits first.
    CloseCode.PROTOCOL_ERROR: "no",
    CloseCode.UNSUPPORTED_DATA: "no",
    CloseCode.RESERVED: "no",
    # The client's own view of a close without a status: a bare ws.close() of its own, or a
    # peer that closed on purpose without saying why (the guard sends 1000 for it).
    CloseCode.NO_STATUS_RECEIVED: "no",
    CloseCode.ABNORMAL_CLOSURE: "backoff",
    CloseCode.INVALID_FRAME_PAYLOAD_DATA: "no",
    CloseCode.POLICY_VIOLATION: "no",
    CloseCode.MESSAGE_TOO_BIG: "no",
    CloseCode.MANDATORY_EXTENSION: "no",
    # A bug may hit one request only, or a dependency may come back: worth retrying, slowly.
    CloseCode.INTERNAL_ERROR: "backoff",
    CloseCode.SERVICE_RESTART: "yes",
    CloseCode.TRY_AGAIN_LATER: "backoff",
    CloseCode.BAD_GATEWAY: "backoff",
    # A certificate does not fix itself between two attempts.
    CloseCode.TLS_HANDSHAKE: "no",
    CloseCode.UNAUTHORIZED: "no",
    CloseCode.FORBIDDEN: "no",
    CloseCode.TIMEOUT: "backoff",
}
# Numbers without a meaning of their own. Numbers that may not be sent only reach a client from
# a peer that breaks the protocol: like 1002, a retry meets the same peer. An unregistered
# 3000-4999 code is some app's own: backoff is the default that costs least when it is wrong
# (a few slow retries, where "no" would strand a user for good); an app that means "stop"
# says so in its own predicate.
_RECONNECT_BY_RANGE: Final[Mapping[str, Reconnect]] = {
    "unused": "no",
    "protocol": "no",
    "iana": "backoff",
    "private": "backoff",
    "out_of_range": "no",
}


@dataclass(frozen=True, slots=True)
class CodeDescription:
    """Everything known about one close code, in one language.

    ``registered`` codes (the members of :class:`CloseCode`) have texts of their own; any other
    number gets the texts of the band it falls in, so that every int has a description.
    """

    code: int
    #: The code's name in the chosen language, e.g. "Abnormal Closure".
    name: str
    #: The :class:`CloseCode` member name (``"ABNORMAL_CLOSURE"``), or None if unregistered.
    constant: str | None
    lang: str
    registered: bool
    #: Whether an endpoint may put the code in a close frame (same as :func:`is_sendable`).
    sendable: bool
    sent_by: SentBy
    #: ``sent_by`` in words, in the chosen language.
    sent_by_text: str
    #: The key of the code's band in ``CODE_RANGES`` ("unused", "protocol", "iana", ...).
    range: str
    #: The band in words, in the chosen language.
    range_text: str
    reference: str
    reference_url: str
    #: What the code means.
    summary: str
    #: Where and why you meet it: logs, browser consoles, which servers.
    when_seen: str
    #: What to change when you see it.
    what_to_do: str
    #: Whether and when your own code should close with it.
    when_to_send: str
    #: What a reconnecting client should do after it: "no", "yes" (at once, with jitter) or
    #: "backoff" (exponential backoff with jitter). The same in every language.
    reconnect: Reconnect
    #: ``reconnect`` in words, in the chosen language.
    reconnect_text: str
    #: Whether the words and ``reconnect`` come from the app's own :class:`AppCode` (passed
    #: as ``app_codes``) rather than from the package's table.
    app_code: bool = False


@dataclass(frozen=True, slots=True)
class RangeDescription:
    """One band of close-code numbers (RFC 6455 §7.4.2), explained in one language.

    ``first`` and ``last`` are inclusive and None for the "out_of_range" band. ``sendable``
    tells whether a code of the band that has no registered meaning may go on the wire.
    """

    range: str
    first: int | None
    last: int | None
    lang: str
    sendable: bool
    range_text: str
    name: str
    reference: str
    reference_url: str
    summary: str
    when_seen: str
    what_to_do: str
    when_to_send: str
    #: What a reconnecting client should do after a code of the band that has no registered
    #: meaning.
    reconnect: Reconnect
    reconnect_text: str


@dataclass(frozen=True, slots=True)
class CodeComparison:
    """Two close codes side by side: both descriptions, what sets them apart, which to use."""

    first: CodeDescription
    second: CodeDescription
    #: Sentences on what differs: meaning, whether it goes on the wire, who sends it, ...
    differences: tuple[str, ...]
    #: One sentence per code on when to use it.
    when_to_use: tuple[str, ...]


def _texts_directory() -> Traversable:
    return resources.files(_PACKAGE).joinpath(_TEXTS_DIRECTORY)


def _discover_languages() -> tuple[str, ...]:
    names = (entry.name for entry in _texts_directory().iterdir())
    return tuple(sorted(name.removesuffix(".json") for name in names if name.endswith(".json")))


#: Language codes there are texts for, one per ``texts/<lang>.json`` file shipped with the package.
LANGUAGES: Final[tuple[str, ...]] = _discover_languages()

_Entry = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Texts:
    codes: Mapping[str, _Entry]
    ranges: Mapping[str, _Entry]
    pairs: Mapping[str, str]
    sent_by: _Entry
    reconnect: _Entry
    compare: _Entry
    interface: _Entry
    app_code: _Entry


@cache
def _texts(lang: str) -> _Texts:
    # Read once per language: every describe() after the first is dictionary look-ups.
    raw = _texts_directory().joinpath(f"{lang}.json").read_text(encoding="utf-8")
    data = json.loads(raw)
    return _Texts(
        codes=cast("Mapping[str, _Entry]", data["codes"]),
        ranges=cast("Mapping[str, _Entry]", data["ranges"]),
        pairs=cast("Mapping[str, str]", data["pairs"]),
        sent_by=cast("_Entry", data["sent_by"]),
        reconnect=cast("_Entry", data["reconnect"]),
        compare=cast("_Entry", data["compare"]),
        interface=cast("_Entry", data["interface"]),
        app_code=cast("_Entry", data["app_code"]),
    )


def validate_language(lang: object) -> str:
    """Return ``lang`` if there are texts for it.

    Raises :class:`TypeError` for a ``lang`` that is not a str, and :class:`ValueError` naming
    the available languages for one there are no texts for.
    """
    available = ", ".join(LANGUAGES)
    if not isinstance(lang, str):
        raise TypeError(
            f"lang takes a language code as a str, one of {available}; not {type(lang).__name__}"
        )
    if lang in LANGUAGES:
        return lang
    raise ValueError(f"unknown language {lang!r}: available languages are {available}")


def interface_texts(lang: str) -> Mapping[str, str]:
    """The words of the command-line interface (headings, labels) in ``lang``."""
    return _texts(validate_language(lang)).interface


def reconnect_texts(lang: str) -> Mapping[str, str]:
    """What a reconnecting client does, in words, in ``lang``: one text per :data:`Reconnect`."""
    return _texts(validate_language(lang)).reconnect


def _validate_code(code: object, function: str) -> int:
    if isinstance(code, bool):
        raise TypeError(
            f"{function}() takes a close code as an int, not a bool (True == 1 in Python); "
            "pass a number such as 1000"
        )
    if not isinstance(code, int):
        hint = f"; convert text first, e.g. int({code!r})" if isinstance(code, str) else ""
        raise TypeError(
            f"{function}() takes a close code as an int such as 1000, "
            f"not {type(code).__name__}{hint}"
        )
    # A CloseCode member becomes a plain int, so records compare and serialise plainly.
    return int(code)


def _sent_by(code: int) -> SentBy:
    if not is_sendable(code):
        return "never"
    if code in _SENT_BY_CLIENT:
        return "client"
    if code in _SENT_BY_SERVER:
        return "server"
    return "either"


def reconnect_for(code: int) -> Reconnect:
    """What a reconnecting client should do after ``code``: ``"no"``, ``"yes"`` or ``"backoff"``.

    The same answer as ``describe(code).reconnect``, without loading any texts.
    """
    number = _validate_code(code, "reconnect_for")
    if number in _REGISTERED_CODES:
        return _RECONNECT_BY_CODE[number]
    return _RECONNECT_BY_RANGE[code_range(number).key]


def _reference(code: int) -> tuple[str, str]:
    if code in _REGISTERED_AFTER_RFC:
        return _IANA_REGISTRY, _IANA_REGISTRY_URL
    if code in _REGISTERED_CODES:
        return _RFC_DEFINED, _RFC_DEFINED_URL
    return _RFC_RANGES, _RFC_RANGES_URL


def _checked_app_codes(app_codes: object) -> Mapping[int, AppCode]:
    return {} if app_codes is None else validate_app_codes(app_codes)


def describe(
    code: int, lang: str = "en", *, app_codes: Mapping[int, AppCode] | None = None
) -> CodeDescription:
    """Explain any close code number, in ``lang`` (one of :data:`LANGUAGES`).

    A registered code (a :class:`CloseCode` member) gets its own texts; any other int — 1016,
    3001, 4404, -1, 70000 — gets the texts of its band, so this never fails for an int. A code
    the app declares in ``app_codes`` (``{4001: AppCode("Kicked", ...)}``) gets the app's words
    and reconnect advice instead.

    Raises :class:`TypeError` for a bool or a non-int (parse text with ``int()`` first), and
    :class:`ValueError` for a language there are no texts for or an ``app_codes`` key outside
    3000-4999.
    """
    number = _validate_code(code, "describe")
    texts = _texts(validate_language(lang))
    declared = _checked_app_codes(app_codes).get(number)
    if declared is not None:
        return _describe_app_code(number, lang, declared, texts)
    band = code_range(number)
    band_entry = texts.ranges[band.key]
    registered = number in _REGISTERED_CODES
    entry = texts.codes[str(number)] if registered else band_entry
    sent_by = _sent_by(number)
    reconnect = reconnect_for(number)
    reference, reference_url = _reference(number)
    return CodeDescription(
        code=number,
        name=entry["name"],
        constant=CloseCode(number).name if registered else None,
        lang=lang,
        registered=registered,
        sendable=is_sendable(number),
        sent_by=sent_by,
        sent_by_text=texts.sent_by[sent_by],
        range=band.key,
        range_text=band_entry["label"],
        reference=reference,
        reference_url=reference_url,
        summary=entry["summary"],
        when_seen=entry["when_seen"],
        what_to_do=entry["what_to_do"],
        when_to_send=entry["when_to_send"],
        reconnect=reconnect,
        reconnect_text=texts.reconnect[reconnect],
    )


def _describe_app_code(code: int, lang: str, declared: AppCode, texts: _Texts) -> CodeDescription:
    # The facts (band, who may send it, the reference) stay the protocol's; the meaning and the
    # advice are the app's. An app that gave no advice gets the package's generic words.
    words = declared.words(lang)
    band = code_range(code)
    reference, reference_url = _reference(code)
    sent_by = _sent_by(code)
    return CodeDescription(
        code=code,
        name=words["name"],
        constant=CloseCode(code).name if code in _REGISTERED_CODES else None,
        lang=lang,
        registered=code in _REGISTERED_CODES,
        sendable=True,
        sent_by=sent_by,
        sent_by_text=texts.sent_by[sent_by],
        range=band.key,
        range_text=texts.ranges[band.key]["label"],
        reference=reference,
        reference_url=reference_url,
        summary=words["summary"],
        when_seen=texts.app_code["when_seen"],
        what_to_do=words["what_to_do"] or texts.app_code["what_to_do"],
        when_to_send=texts.app_code["when_to_send"],
        reconnect=declared.reconnect,
        reconnect_text=texts.reconnect[declared.reconnect],
        app_code=True,
    )


def describe_range(band: CodeRange | str, lang: str = "en") -> RangeDescription:
    """Explain one band of close codes: a :class:`CodeRange` or its key, such as ``"private"``.

    Raises :class:`TypeError` for anything else (for the band of a code, read
    ``describe(code).range``) and :class:`ValueError` for a key that names no band, or an
    unknown language.
    """
    if not isinstance(band, (str, CodeRange)):
        keys = ", ".join(repr(known.key) for known in CODE_RANGES)
        hint = (
            f"; for the range {band} falls in, use describe({band}).range"
            if isinstance(band, int) and not isinstance(band, bool)
            else ""
        )
        raise TypeError(
            f"describe_range() takes a range key ({keys}) or a CodeRange, "
            f"not {type(band).__name__}{hint}"
        )
    if isinstance(band, str):
        by_key = {known.key: known for known in CODE_RANGES}
        if band not in by_key:
            keys = ", ".join(by_key)
            raise ValueError(f"unknown range {band!r}: the ranges are {keys}")
        band = by_key[band]
    texts = _texts(validate_language(lang))
    entry = texts.ranges[band.key]
    reconnect = _RECONNECT_BY_RANGE[band.key]
    return RangeDescription(
        range=band.key,
        first=band.first,
        last=band.last,
        lang=lang,
        # The last number of every band has no registered meaning, so it stands for the
        # band's unassigned codes (the out-of-range band has no numbers that may be sent).
        sendable=band.last is not None and is_sendable(band.last),
        range_text=entry["label"],
        name=entry["name"],
        reference=_RFC_RANGES,
        reference_url=_RFC_RANGES_URL,
        summary=entry["summary"],
        when_seen=entry["when_seen"],
        what_to_do=entry["what_to_do"],
        when_to_send=entry["when_to_send"],
        reconnect=reconnect,
        reconnect_text=texts.reconnect[reconnect],
    )


def compare(
    a: int, b: int, lang: str = "en", *, app_codes: Mapping[int, AppCode] | None = None
) -> CodeComparison:
    """Set two close codes side by side, in ``lang`` (one of :data:`LANGUAGES`).

    The result holds both descriptions, the differences that matter (meaning, whether the code
    may go on the wire, who sends it, its band, and a note for pairs that are often confused)
    and, for each code, when to use it. Codes declared in ``app_codes`` are described with the
    app's words. Raises like :func:`describe`.
    """
    _validate_code(a, "compare")
    _validate_code(b, "compare")
    declared = _checked_app_codes(app_codes)
    first = describe(a, lang, app_codes=declared)
    second = describe(b, lang, app_codes=declared)
    texts = _texts(lang)
    words = texts.compare
    if first.code == second.code:
        return CodeComparison(
            first=first,
            second=second,
            differences=(words["same"].format(code=first.code),),
            when_to_use=(_when_to_use(words, first),),
        )
    differences: list[str] = []
    # Pairs are stored once, smaller code first, whichever order they are asked in. A note
    # speaks of the codes' registered meanings, which an app's declaration replaces.
    pair = " ".join(str(code) for code in sorted((first.code, second.code)))
    note = None if first.app_code or second.app_code else texts.pairs.get(pair)
    if note is not None:
        differences.append(note)
    differences.extend(
        words["meaning"].format(code=d.code, name=d.name, summary=d.summary)
        for d in (first, second)
    )
    differences.append(_wire_difference(words, first, second))
    if first.sendable and second.sendable:
        if first.sent_by == second.sent_by:
            differences.append(
                words["sender_same"].format(a=first.code, b=second.code, sender=first.sent_by_text)
            )
        else:
            differences.append(
                words["sender_different"].format(
                    a=first.code,
                    b=second.code,
                    sender_a=first.sent_by_text,
                    sender_b=second.sent_by_text,
                )
            )
    if first.range != second.range:
        differences.append(
            words["range_different"].format(
                a=first.code, b=second.code, range_a=first.range_text, range_b=second.range_text
            )
        )
    differences.append(_reconnect_difference(words, first, second))
    return CodeComparison(
        first=first,
        second=second,
        differences=tuple(differences),
        when_to_use=(_when_to_use(words, first), _when_to_use(words, second)),
    )


def _wire_difference(words: _Entry, first: CodeDescription, second: CodeDescription) -> str:
    if first.sendable and second.sendable:
        return words["wire_both"].format(a=first.code, b=second.code)
    if first.sendable or second.sendable:
        sendable, unsendable = (first, second) if first.sendable else (second, first)
        return words["wire_one"].format(sendable=sendable.code, unsendable=unsendable.code)
    return words["wire_neither"].format(a=first.code, b=second.code)


def _reconnect_difference(words: _Entry, first: CodeDescription, second: CodeDescription) -> str:
    if first.reconnect == second.reconnect:
        return words["reconnect_same"].format(
            a=first.code, b=second.code, reconnect=first.reconnect_text
        )
    return words["reconnect_different"].format(
        a=first.code,
        b=second.code,
        reconnect_a=first.reconnect_text,
        reconnect_b=second.reconnect_text,
    )


def _when_to_use(words: _Entry, description: CodeDescription) -> str:
    return words["when_to_use"].format(
        code=description.code, name=description.name, advice=description.when_to_send
    )
