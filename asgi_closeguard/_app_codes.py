"""An application's own close codes, declared once: :class:`AppCode`.

RFC 6455 §7.4.2 leaves 4000-4999 to applications (and 3000-3999 to libraries and frameworks that
register theirs with IANA), so the package knows nothing about what 4001 means to one app. An app
says it once::

    CODES = {
        4001: AppCode("Kicked", "An admin removed you from the room.", reconnect="no"),
        4029: AppCode("Room full", "The room has no free seat.", reconnect="backoff",
                      what_to_do="Try another room."),
    }

and hands ``CODES`` to :func:`~asgi_closeguard.describe`, :func:`~asgi_closeguard.compare`, the
command line (``--app-codes myapp.codes:CODES``) and the exported JavaScript module, which then
answer with the app's words and the app's reconnect advice for those codes.

The module imports nothing heavy: a server that imports an app's codes does not load the texts
(the languages are looked up only when an :class:`AppCode` has ``texts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import Final, Literal

__all__ = ["FIRST_APP_CODE", "LAST_APP_CODE", "AppCode", "Reconnect", "validate_app_codes"]

#: What a reconnecting client should do after a close: stay away (``"no"``), come back at once
#: after a short random delay (``"yes"``), or come back with exponential backoff
#: (``"backoff"``). The reasoning, code by code, is in docs/reconnecting.md. Defined here, where
#: nothing heavy is imported, for the app's declarations; the knowledge uses the same type.
Reconnect = Literal["no", "yes", "backoff"]

#: The numbers an app may declare: the IANA-registered range and the private-use range, the only
#: codes above the protocol's own that may go on the wire (RFC 6455 §7.4.2).
FIRST_APP_CODE: Final = 3000
LAST_APP_CODE: Final = 4999

_RECONNECTS: Final[tuple[Reconnect, ...]] = ("no", "yes", "backoff")
#: The words an app may give per language; anything else in ``texts`` is a typo.
_TEXT_FIELDS: Final = ("name", "summary", "what_to_do")
_REQUIRED_TEXT_FIELDS: Final = ("name", "summary")


@dataclass(frozen=True, slots=True)
class AppCode:
    """What one of the app's own close codes means, and whether a client should come back.

    ``name`` and ``summary`` are the English words (short: a name like "Kicked", one or two
    sentences of summary); ``what_to_do`` says what the user or developer does about it.
    ``reconnect`` is ``"no"``, ``"yes"`` or ``"backoff"``, as for every other code. ``texts``
    gives the words in other languages, ``{"ko": {"name": ..., "summary": ...}}``; a language or
    a word it leaves out falls back to the English one.

    Raises :class:`TypeError` for a value of the wrong type and :class:`ValueError` for an empty
    name or summary, an unknown ``reconnect``, or ``texts`` with an unknown language or word.
    """

    name: str
    summary: str
    _: KW_ONLY
    reconnect: Reconnect
    what_to_do: str = ""
    # Kept out of the hash: a read-only mapping is not hashable, and equal codes have equal
    # names anyway.
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check_words({"name": self.name, "summary": self.summary}, where="AppCode")
        if not isinstance(self.what_to_do, str):
            raise TypeError(
                f"AppCode(what_to_do=...) takes a str, not {type(self.what_to_do).__name__}"
            )
        _check_reconnect(self.reconnect)
        # A read-only copy: the declaration cannot change under the code that read it.
        object.__setattr__(self, "texts", _frozen_texts(self.texts))

    def __repr__(self) -> str:
        # The read-only mappings would print as mappingproxy(...): show what was written.
        texts = {lang: dict(words) for lang, words in self.texts.items()}
        extra = f", what_to_do={self.what_to_do!r}" if self.what_to_do else ""
        extra += f", texts={texts!r}" if texts else ""
        return f"AppCode({self.name!r}, {self.summary!r}, reconnect={self.reconnect!r}{extra})"

    def words(self, lang: str) -> Mapping[str, str]:
        """``name``, ``summary`` and ``what_to_do`` in ``lang``, each falling back to English."""
        if not isinstance(lang, str):
            raise TypeError(f"words() takes a language code as a str, not {type(lang).__name__}")
        english = {"name": self.name, "summary": self.summary, "what_to_do": self.what_to_do}
        return {**english, **self.texts.get(lang, {})}


def _check_words(words: Mapping[str, object], where: str) -> None:
    for key, value in words.items():
        if not isinstance(value, str):
            raise TypeError(f"{where}'s {key} is a str, not {type(value).__name__}")
        if key in _REQUIRED_TEXT_FIELDS and not value.strip():
            raise ValueError(f"{where}'s {key} is empty: say what the code means in a few words")


def _check_reconnect(reconnect: object) -> None:
    if reconnect in _RECONNECTS and isinstance(reconnect, str):
        return
    choices = ", ".join(repr(choice) for choice in _RECONNECTS)
    message = f"AppCode(reconnect=...) takes one of {choices}, not {reconnect!r}"
    if isinstance(reconnect, str):
        raise ValueError(message)
    raise TypeError(message)


def _frozen_texts(texts: object) -> Mapping[str, Mapping[str, str]]:
    if not isinstance(texts, Mapping):
        raise TypeError(
            'AppCode(texts=...) takes a dict of languages, e.g. {"ko": {"name": ..., '
            f'"summary": ...}}}}, not {type(texts).__name__}'
        )
    if not texts:
        return MappingProxyType({})
    from ._knowledge import LANGUAGES

    frozen: dict[str, Mapping[str, str]] = {}
    for lang, words in texts.items():
        if lang not in LANGUAGES:
            raise ValueError(
                f"AppCode(texts=...) has words for {lang!r}, a language there are no texts "
                f"for: the languages are {', '.join(LANGUAGES)}"
            )
        if not isinstance(words, Mapping):
            raise TypeError(
                f"AppCode(texts=...)[{lang!r}] takes a dict of words ({', '.join(_TEXT_FIELDS)}), "
                f"not {type(words).__name__}"
            )
        unknown = sorted(set(words) - set(_TEXT_FIELDS), key=str)
        if unknown:
            raise ValueError(
                f"AppCode(texts=...)[{lang!r}] has {', '.join(map(repr, unknown))}: the words "
                f"an app code has are {', '.join(_TEXT_FIELDS)}"
            )
        _check_words(words, where=f"AppCode(texts=...)[{lang!r}]")
        frozen[lang] = MappingProxyType(dict(words))
    return MappingProxyType(frozen)


def validate_app_codes(app_codes: object) -> Mapping[int, AppCode]:
    """Check a mapping of the app's codes and return it with plain int keys.

    Raises :class:`TypeError` for something that is not a mapping of ints to :class:`AppCode`,
    and :class:`ValueError` for a key outside 3000-4999, with the reason.
    """
    if not isinstance(app_codes, Mapping):
        raise TypeError(
            "app_codes takes a dict of close codes to AppCode, e.g. "
            '{4001: AppCode("Kicked", "...", reconnect="no")}, '
            f"not {type(app_codes).__name__}"
        )
    checked: dict[int, AppCode] = {}
    for code, declaration in app_codes.items():
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(
                f"app_codes' keys are close codes as ints such as 4001, not {code!r} "
                f"({type(code).__name__})"
            )
        _check_app_code_number(code)
        if not isinstance(declaration, AppCode):
            raise TypeError(
                f"app_codes[{code}] is an AppCode, not {type(declaration).__name__}: write "
                f'AppCode("Name", "What it means.", reconnect="no")'
            )
        checked[int(code)] = declaration
    return checked


def _check_app_code_number(code: int) -> None:
    if FIRST_APP_CODE <= code <= LAST_APP_CODE:
        return
    if 1000 <= code < FIRST_APP_CODE:
        why = (
            "1000-2999 belong to the WebSocket protocol itself (RFC 6455 §7.4.1-7.4.2), "
            "and their meaning is fixed"
        )
    else:
        why = "it is not a close code an endpoint may send (RFC 6455 §7.4.2)"
    raise ValueError(
        f"app_codes cannot declare {code}: {why}; an app's own codes are 4000-4999 "
        "(private use), or 3000-3999 for codes registered with IANA"
    )
