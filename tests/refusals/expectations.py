"""What Chromium's ``CloseEvent`` shows for each refusal before accept, per server, as measured.

With ``refuse_with="close"`` every server shows the app's code; they differ only where a server
differs after accept too (``tests/servers``, ``docs/servers.md``): daphne sends no close reason,
refuses close codes other than 1000 and 3000-4999 (the guard's fallback rules then apply: a
return's 1008 goes out as 1000), and ends every connection it closes with a TCP reset, so the
page reports ``wasClean`` false, and now and then 1006. With the default
``refuse_with="http"`` every server answers with HTTP (403 or 500), which a page never sees:
1006, and the socket never opened.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shows:
    """What the page's ``CloseEvent`` says."""

    code: int
    reason: str
    was_clean: bool
    opened: bool = True
    #: daphne ends every connection it closes with a TCP reset, which now and then reaches
    #: Chromium before the close frame does: 1006 instead (docs/servers.md, "rarely 1006").
    or_rarely_1006: bool = False


#: ``refuse_with="close"``, on every server but those in :data:`DIFFERENCES`.
CLOSE: dict[str, Shows] = {
    "login": Shows(4401, "login required", True),
    "crash": Shows(4403, "Forbidden", True),
    "return": Shows(1008, "Policy Violation", True),
}

#: Where a server shows something else with ``refuse_with="close"``.
DIFFERENCES: dict[str, dict[str, Shows]] = {
    "daphne": {
        "login": Shows(4401, "", False, or_rarely_1006=True),
        "crash": Shows(4403, "", False, or_rarely_1006=True),
        "return": Shows(1000, "", False, or_rarely_1006=True),
    },
}

#: ``refuse_with="http"`` (the default), on every server: the handshake's HTTP status is not
#: the page's to see.
HTTP = Shows(1006, "", False, opened=False)


def expected(kind: str, mode: str, endpoint: str) -> Shows:
    """What the page must see on server ``kind`` for ``/<mode>/<endpoint>``."""
    if mode == "http":
        return HTTP
    return DIFFERENCES.get(kind, {}).get(endpoint, CLOSE[endpoint])
