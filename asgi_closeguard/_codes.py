"""The one table of WebSocket close codes.

Everything the package knows about which close code may be sent comes from here: the
middleware, the knowledge texts, the CLI and the demo app all read these names. There is no
second list of codes anywhere in the package.

Sources: RFC 6455 §7.4.1 (defined codes), §7.4.2 (ranges) and the IANA "WebSocket Close Code
Number Registry", which later added 1012-1015 and the 3000-3999 registrations.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, TypeGuard

__all__ = [
    "CODE_RANGES",
    "COME_BACK_CODES",
    "LOCAL_ONLY_CODES",
    "CloseCode",
    "CodeRange",
    "code_range",
    "fallback_code",
    "is_sendable",
    "replacement_code",
    "why_not_sendable",
]


class CloseCode(enum.IntEnum):
    """Close codes with a registered meaning (RFC 6455 §7.4.1 and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    RESERVED = 1004
    NO_STATUS_RECEIVED = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015
    UNAUTHORIZED = 3000
    FORBIDDEN = 3003
    TIMEOUT = 3008


#: Codes that RFC 6455 §7.4.1 says "MUST NOT be set as a status code in a Close control frame
#: by an endpoint": they exist only to report, locally, what happened (wsproto calls these
#: LOCAL_ONLY_CLOSE_REASONS).
LOCAL_ONLY_CODES: Final[frozenset[int]] = frozenset(
    {CloseCode.NO_STATUS_RECEIVED, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE}
)

# Codes of the protocol range (1000-2999) that may appear in a close frame: 1004 is reserved,
# 1005/1006/1015 are local-only, and 1016-2999 are kept for future revisions (§7.4.2).
_SENDABLE_PROTOCOL_CODES: Final[frozenset[int]] = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
# 3000-3999 are registered with IANA for libraries and frameworks, 4000-4999 are private use:
# both may go on the wire (§7.4.2).
_FIRST_APPLICATION_CODE: Final = 3000
_LAST_APPLICATION_CODE: Final = 4999


@dataclass(frozen=True)
class CodeRange:
    """A band of close-code numbers that share one status in RFC 6455 §7.4.2.

    ``first`` and ``last`` are inclusive; the "out_of_range" band has neither, since it is made
    of everything no other band holds (negative numbers and 5000 upwards).
    """

    key: str
    first: int | None
    last: int | None

    def __contains__(self, code: object) -> bool:
        return _is_code_number(code) and code_range(code) is self


#: The bands, in numeric order, then the catch-all for what is not a close code at all.
CODE_RANGES: Final[tuple[CodeRange, ...]] = (
    CodeRange("unused", 0, 999),
    CodeRange("protocol", 1000, 2999),
    CodeRange("iana", 3000, 3999),
    CodeRange("private", 4000, 4999),
    CodeRange("out_of_range", None, None),
)


def code_range(code: int) -> CodeRange:
    """Return the band of RFC 6455 §7.4.2 that ``code`` falls in.

    Negative numbers and numbers from 5000 up (which a two-byte close frame can carry but the
    RFC gives no meaning) fall in the ``"out_of_range"`` band.
    """
    for band in CODE_RANGES[:-1]:
        if band.first is not None and band.last is not None and band.first <= code <= band.last:
            return band
    return CODE_RANGES[-1]


def is_sendable(code: object) -> bool:
    """Tell whether ``code`` may be put in a close frame by an endpoint.

    True for 1000-1003, 1007-1014 and 3000-4999; False for everything else, including the
    local-only 1005, 1006 and 1015, ``bool`` values (``True == 1`` in Python, never a close code),
    floats, strings and ``None``. This is the one rule :class:`CloseGuardMiddleware` enforces.
    """
    if _is_code_number(code):
        return (
            code in _SENDABLE_PROTOCOL_CODES
            or _FIRST_APPLICATION_CODE <= code <= _LAST_APPLICATION_CODE
        )
    return False


def replacement_code(code: object) -> int:
    """The code sent in place of ``code`` when ``code`` may not go on the wire.

    An app that closes with 1005 ("no status received") meant "a close with nothing to report",
    which is what 1000 says on the wire. Every other forbidden value — 1006, 1015, reserved and
    out-of-range numbers, values of the wrong type — is an application bug, reported to the peer
    as 1011 (internal error).
    """
    if _is_code_number(code) and code == CloseCode.NO_STATUS_RECEIVED:
        return int(CloseCode.NORMAL_CLOSURE)
    return int(CloseCode.INTERNAL_ERROR)


#: Codes that tell a client to come back: the server is going away or restarting, or failed in
#: a way a later attempt may not meet (RFC 6455 §7.4.1, the IANA registry for 1012-1014).
COME_BACK_CODES: Final[frozenset[int]] = frozenset({1001, 1011, 1012, 1013, 1014})
_PRIVATE_USE_BASE: Final = 4000


def fallback_code(refused: int) -> int:
    """The code to send when a server refuses ``refused`` (daphne takes only 1000 and
    3000-4999): one that keeps what the code tells a client about reconnecting.

    A "come back" code (1001, 1011-1014) becomes the private-use code with the same last three
    digits (1012 -> 4012): 1000 would tell the client the close was normal and not to return.
    Any other code becomes 1000, which every server takes.
    """
    if refused in COME_BACK_CODES:
        return _PRIVATE_USE_BASE + refused % 1000
    return int(CloseCode.NORMAL_CLOSURE)


def why_not_sendable(code: object) -> str | None:
    """Name the rule that keeps ``code`` off the wire, or return ``None`` if it may be sent.

    The sentence is meant for an error message or a log line, so it cites its source.
    """
    if is_sendable(code):
        return None
    if isinstance(code, bool):
        return "a bool is not a close code (True == 1 in Python); pass an int such as 1000"
    if not isinstance(code, int):
        return f"a close code is an int from 1000 to 4999, not {type(code).__name__}"
    if code in LOCAL_ONLY_CODES:
        return (
            f"{code} is only reported locally: RFC 6455 §7.4.1 says an endpoint must not "
            "set it in a close frame"
        )
    if code == CloseCode.RESERVED:
        return "1004 is reserved by RFC 6455 §7.4.1 and must not be sent"
    key = code_range(code).key
    if key == "protocol":
        return f"{code} is reserved for future versions of the protocol (RFC 6455 §7.4.2)"
    if key == "unused":
        return f"{code} is below 1000: RFC 6455 §7.4.2 leaves 0-999 unused"
    return f"{code} is outside every range of close codes (RFC 6455 §7.4.2 ends at 4999)"


def _is_code_number(value: object) -> TypeGuard[int]:
    # An IntEnum member is a fine code; a bool is an int subclass but never a code.
    return value.__class__ is int or (isinstance(value, int) and not isinstance(value, bool))
