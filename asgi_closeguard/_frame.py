"""Pure functions that make a close frame's reason fit the wire.

RFC 6455 §5.5: a control frame carries at most 125 bytes of payload, two of them the code, which
leaves 123 bytes for the reason; §5.5.1 and §8.1: the reason is UTF-8 text.
"""

from __future__ import annotations

import json
import logging
from typing import Final

__all__ = ["MAX_REASON_BYTES", "TRUNCATION_MARK", "normalise_reason"]

logger = logging.getLogger("asgi_closeguard")

MAX_REASON_BYTES: Final = 123

#: Appended to a reason that had to be cut, so a reader knows there was more (3 bytes in UTF-8).
TRUNCATION_MARK: Final = "\u2026"
_TRUNCATION_MARK_BYTES: Final = len(TRUNCATION_MARK.encode("utf-8"))


def normalise_reason(reason: object) -> str:
    """Turn whatever the app gave as a close reason into text that fits a close frame.

    - ``None`` becomes ``""`` (the ASGI default).
    - Bytes are decoded as UTF-8, undecodable bytes replaced.
    - Any other non-``str`` (FastAPI closes with a list of validation errors) becomes compact
      JSON text, so the detail survives instead of failing inside the server.
    - Lone surrogates, which cannot be encoded as UTF-8, become U+FFFD.
    - Text longer than 123 bytes of UTF-8 is cut at a character boundary and ends with "…".
    """
    text = reason if type(reason) is str else _as_text(reason)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        text = _replace_lone_surrogates(text)
        size = len(text.encode("utf-8"))
    if size <= MAX_REASON_BYTES:
        return text
    logger.debug("close reason cut from %d to %d bytes: %.40r…", size, MAX_REASON_BYTES, text)
    return _truncate(text)


def _as_text(reason: object) -> str:
    if reason is None:
        return ""
    if isinstance(reason, str):
        return str(reason)  # a str subclass: keep the text, drop the class
    if isinstance(reason, bytes | bytearray | memoryview):
        return bytes(reason).decode("utf-8", "replace")
    try:
        return json.dumps(reason, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):  # circular structures, dicts with non-str keys
        return repr(reason)


def _replace_lone_surrogates(text: str) -> str:
    # UTF-16 with "surrogatepass" pairs up any high/low surrogates that form a character and
    # leaves the lone ones as undecodable units, which "replace" turns into U+FFFD, one each.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _truncate(text: str) -> str:
    budget = MAX_REASON_BYTES - _TRUNCATION_MARK_BYTES
    # Decoding with "ignore" drops the partial character a byte cut may leave at the end.
    head = text.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return head + TRUNCATION_MARK
