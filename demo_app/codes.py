"""The demo's own close codes, declared once with :class:`~asgi_closeguard.AppCode`.

The code pages, ``/api/codes`` and the ``closeguard.js`` the page loads all answer with these
words for these codes; ``asgi-closeguard explain 4001 --app-codes demo_app.codes:APP_CODES``
does too. A page's ``connect()`` stays away after 4001 and 4401 and backs off after 4029.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from asgi_closeguard import AppCode

__all__ = ["APP_CODES"]

#: What the demo's own codes mean, and whether a client should come back after each.
APP_CODES: Final[Mapping[int, AppCode]] = {
    4001: AppCode(
        "Kicked",
        "An admin removed you from the room.",
        reconnect="no",
        what_to_do="Ask an admin to let you back in: connecting again will not help.",
        texts={
            "ko": {
                "name": "강퇴됨",
                "summary": "관리자가 당신을 방에서 내보냈습니다.",
                "what_to_do": (
                    "관리자에게 다시 들여보내 달라고 요청하세요. 다시 연결해도 소용없습니다."
                ),
            }
        },
    ),
    4029: AppCode(
        "Room full",
        "The room has no free seat.",
        reconnect="backoff",
        what_to_do="Wait for a seat, or try another room.",
        texts={
            "ko": {
                "name": "방이 가득 참",
                "summary": "방에 빈자리가 없습니다.",
                "what_to_do": "자리가 날 때까지 기다리거나 다른 방을 고르세요.",
            }
        },
    ),
    4401: AppCode(
        "Login required",
        "The connection needs a signed-in user.",
        reconnect="no",
        what_to_do="Sign in, then connect again.",
        texts={
            "ko": {
                "name": "로그인 필요",
                "summary": "이 연결에는 로그인한 사용자가 필요합니다.",
                "what_to_do": "로그인한 뒤 다시 연결하세요.",
            }
        },
    ),
}
