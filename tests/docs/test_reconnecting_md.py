"""``docs/reconnecting.md``'s survey of reconnecting clients, held to one record of it.

:data:`SURVEY` is what each library's source does after a close, code by code (its default
predicate, read in the repositories the page links to). The table on the page must say the same,
and every sentence that says what "every client" does must follow from it: the page once said
that every client stays away after 1000, where its own table showed three that come back.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from asgi_closeguard import describe
from tests.support.servers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "reconnecting.md"

#: The protocol's codes, the ones the libraries decide on one by one.
PROTOCOL_CODES = range(1000, 1016)

#: ``{library: (what the page's table says, whether it reconnects after a protocol code)}``.
#: graphql-ws reconnects after 1000 only while a subscription is active: counted as reconnecting.
SURVEY: dict[str, tuple[str, Callable[[int], bool]]] = {
    "reconnecting-websocket": ("every close", lambda code: True),
    "partysocket": (
        "every close, unless its `shouldReconnectOnClose` hook says otherwise",
        lambda code: True,
    ),
    "sockette": (
        "every close but 1000, 1001 and 1005",
        lambda code: code not in (1000, 1001, 1005),
    ),
    "robust-websocket": (
        "every close but 1008 and 1011, after which it gives up",
        lambda code: code not in (1008, 1011),
    ),
    "htmx ws extension": (
        "1006, 1012 and 1013 only (1011 was added later)",
        lambda code: code in (1006, 1012, 1013),
    ),
    "graphql-ws": (
        "1000 (while subscriptions are still active), 1001, 1005, 1006, 1012, 1013 and 1014; "
        "every other 1xxx code is fatal, 1011 included",
        lambda code: code in (1000, 1001, 1005, 1006, 1012, 1013, 1014),
    ),
}


def survey_table() -> dict[str, str]:
    """The page's table: ``{library: reconnects after}``."""
    rows = re.findall(
        r"^\| \[([^\]]+)\]\([^)]+\) \| (.+) \|$", DOC.read_text(encoding="utf-8"), re.M
    )
    return dict(rows)


def test_the_client_survey_is_the_table_on_the_page() -> None:
    assert survey_table() == {library: text for library, (text, _) in SURVEY.items()}


def _codes(text: str) -> set[int]:
    return {int(code) for code in re.findall(r"\b1\d{3}\b", text)}


def test_what_every_surveyed_client_agrees_on_is_what_the_page_says() -> None:
    page = DOC.read_text(encoding="utf-8")
    (sentence,) = re.findall(r"The one thing they all agree on: ([^.]+)\.", page)
    everyone_back = {c for c in PROTOCOL_CODES if all(back(c) for _, back in SURVEY.values())}
    everyone_away = {c for c in PROTOCOL_CODES if not any(back(c) for _, back in SURVEY.values())}
    assert _codes(sentence) == everyone_back == {1006, 1012, 1013}
    assert everyone_away == set()  # not even 1000: no sentence may say every client stays away
    assert "stays away" not in sentence


def test_a_row_that_says_every_client_agrees_is_unanimous() -> None:
    # "Every client above reconnects after 1006": true only if the survey says so for 1006.
    rows = re.findall(
        r"^\| `(\d{4})` \| `(\w+)` \| (.+) \|$", DOC.read_text(encoding="utf-8"), re.M
    )
    assert rows
    for code_text, reconnect, why in rows:
        code = int(code_text)
        if "Every client above" not in why:
            continue
        answers = {back(code) for _, back in SURVEY.values()}
        assert answers == {reconnect != "no"}, (code, why)
        assert describe(code).reconnect == reconnect
