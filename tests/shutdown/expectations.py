"""What a shutdown run looks like, in short texts, and what the guard promises at shutdown.

The texts (:func:`client_text`, :func:`handler_text`, :func:`record_text`, ...) fill the "At
shutdown" tables of ``docs/servers.md``; they leave out what changes from run to run (times are
"at once" below :data:`AT_ONCE` seconds, else whole seconds, rounded down), so the same servers
give the same page.

:data:`COME_BACK_CODE` is the code every guarded client must get, per setup, and
:data:`SHUTDOWN_NOTES` says why it is not 1012 everywhere: the guard's fallback (daphne) or what
no middleware can change (granian, gunicorn).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from tests.shutdown.clients import ClientEnd

#: Below this many seconds after the signal, a time reads "at once". The nearest timer of a
#: server is hypercorn's 3-second graceful timeout; daphne takes about a second to exit.
AT_ONCE = 2.5
#: How much later than the raw server the guarded one may be gone.
EXIT_MARGIN = 0.5
#: gunicorn's default ``--graceful-timeout`` is 30 s; the runs use 3, hypercorn's default.
GUNICORN_GRACEFUL = "3"

#: Extra arguments of the main runs, by setup: the defaults everywhere else.
#: daphne at verbosity 2, because below that it sends Twisted's own log nowhere, and with it the
#: error its shutdown hook can raise.
MAIN_ARGS: dict[str, tuple[str, ...]] = {
    "gunicorn": ("--graceful-timeout", GUNICORN_GRACEFUL),
    "daphne": ("-v", "2"),
}

#: The close code each guarded client gets at ``SIGTERM`` (``None``: no close frame at all).
COME_BACK_CODE: dict[str, int | None] = {
    "uvicorn-websockets": 1012,
    "uvicorn-websockets-sansio": 1012,
    "uvicorn-wsproto": 1012,
    "hypercorn": 1012,
    "daphne": 4012,
    "granian": None,
    "gunicorn": None,
}

#: Setups where no Python runs for an open connection once the server is signalled: the
#: process that holds it is killed first, so no record can be written.
NO_RECORDS: frozenset[str] = frozenset({"gunicorn"})

#: Why a setup's guarded shutdown differs from "1012, one record, at once", and what else the
#: tables show that a reader would ask about: ``{key: (title, text)}``; the docs print these.
SHUTDOWN_NOTES: dict[str, tuple[str, str]] = {
    "daphne-4012": (
        "daphne",
        "daphne cancels every handler at once and drops the sockets without a close frame. The "
        "guard's 1012 is refused (daphne takes only 1000 and 3000-4999), so the guard falls "
        "back to 4012, the private-use code with the same last three digits, which still tells "
        "a client to come back; 1000 would tell it to stay away. daphne leaves the reason out. "
        "daphne 4.2.3 cancels anything at all only when every HTTP request it lists has an app "
        "running: a request whose body is still arriving, or a finished one (a WebSocket "
        "handshake too) that its once-a-second sweep has not yet forgotten, makes its shutdown "
        "hook fail with a `KeyError` first, and then no handler is told and no frame goes out "
        "(shown at `-v 2` only; see deploying.md). Hence the wait before the signal here.",
    ),
    "granian-drops": (
        "granian",
        "granian drops every socket at once without a close frame and does not tell the app: the "
        "handlers are never resumed, except that a handler waiting in `receive()` sometimes gets "
        "a 1005 disconnect first. No ASGI middleware can send on a socket the server has "
        'already closed; the guard records each abandoned connection, `closed_by` "server", '
        "when the lifespan shutdown reaches it (granian skips that in some runs, and then "
        "nothing is left to write the records). Clients see 1006, which brings reconnecting "
        "clients back.",
    ),
    "gunicorn-kills": (
        "gunicorn",
        "gunicorn's master waits `--graceful-timeout` seconds for its worker, then kills it with "
        "`SIGKILL`. The worker notices the signal only on its next one-second heartbeat and "
        "starts its own, equally long wait for open connections later than the master, so it is "
        "killed before it cancels any handler: no close frame (1006), no handler told, nothing "
        "recorded, no lifespan shutdown. `SIGQUIT` or `SIGINT` (gunicorn's quick shutdown) "
        "cancels the handlers instead, and the guard's 1012 goes out: see deploying.md.",
    ),
    "uvicorn-unclean": (
        "uvicorn (all three)",
        "uvicorn sends its own 1012 and closes the TCP connection without waiting for the "
        "browser's answering close frame, so Chromium's `wasClean` is true in some runs and "
        "false in others, with or without the guard; and a message the page sent just before "
        "meets a closed socket, whose reset can reach Chromium before the close frame is read "
        "(1006).",
    ),
    "hypercorn-cancel": (
        "hypercorn",
        "hypercorn keeps serving for its graceful timeout (3 s by default), then cancels the "
        "handlers and logs a traceback for each cancellation, with or without the guard. Its own "
        "close after a cancellation is 1011; the guard's 1012 goes out first.",
    ),
}


_CLEAN = ("clean", "unclean", "clean or not")
_GRANIAN_HANDLER = "never told, or a 1005 disconnect at once"
_GRANIAN_RECORD = "server no code '', or client 1005 ''"
_GRANIAN_RACES = {
    **{
        (f"app {scenario}", text): _GRANIAN_HANDLER
        for scenario in ("idle", "sent")
        for text in (
            "never told",
            "disconnect 1005, returned at once",
            "WebSocketDisconnect 1005, returned at once",
        )
    },
    **{
        (f"record {scenario}", text): _GRANIAN_RECORD
        for scenario in ("idle", "sent")
        for text in ("server no code ''", "client 1005 ''")
    },
}
_UVICORN_HANDLER = (
    "a 1012 disconnect, or a failed send of its echo (FastAPI: WebSocketDisconnect 1006) when "
    "the message wins the race, at once"
)
_UVICORN_RECORD = "server 1012 '', or server no code '' when the message wins the race"
_IN_FLIGHT = "1012, or 1006 (the message in flight)"
_VARIES = "varies"
_UVICORN_RACES = {
    ("chromium sent", "1012"): _IN_FLIGHT,
    ("chromium sent", "1006"): _IN_FLIGHT,
    **{
        ("app sent", text): _UVICORN_HANDLER
        for text in (
            "disconnect 1012, returned at once",
            "WebSocketDisconnect 1012, returned at once",
            "raised ClientDisconnected at once",
            "WebSocketDisconnect 1006, returned at once",
        )
    },
    ("record sent", "server 1012 ''"): _UVICORN_RECORD,
    ("record sent", "server no code ''"): _UVICORN_RECORD,
    **{(f"wasClean {side}", text): _VARIES for side in ("raw", "guarded") for text in _CLEAN},
}

#: Texts that differ from run to run on one setup: ``{kind: {(field, text): shown}}``, each
#: observed text mapped to the one text the page shows for all of them. The field names the row
#: and the observer: ``app idle``, ``record sent``, ``chromium sent``, ``wasClean guarded``.
#:
#: - granian sometimes hands a handler waiting in ``receive()`` a 1005 disconnect before it
#:   drops the connection, and sometimes not;
#: - uvicorn closes the TCP connection right after its own 1012, without waiting for the
#:   client's answer, so Chromium's ``wasClean`` varies; the message a client sent just before
#:   races uvicorn's close: the handler gets the disconnect, or the message, and then its echo
#:   fails; and in Chromium the reset that answers the message can arrive before the close
#:   frame is read (1006, see :data:`IN_FLIGHT_RACE`);
#: - daphne ends a connection it closed itself with a TCP reset in some runs, not in others.
RACES: dict[str, dict[tuple[str, str], str]] = {
    "granian": _GRANIAN_RACES,
    "uvicorn-websockets": _UVICORN_RACES,
    "uvicorn-websockets-sansio": _UVICORN_RACES,
    "uvicorn-wsproto": _UVICORN_RACES,
    "daphne": {("wasClean guarded", text): _VARIES for text in _CLEAN},
}


def steady(kind: str, field: str, text: str) -> str:
    """``text``, or the one text the page shows for every outcome of a known race."""
    return RACES.get(kind, {}).get((field, text), text)


#: Setups where Chromium's socket whose message was in flight at the signal may see 1006 (no
#: close frame read) instead of the setup's code: the server, not the guard, closes the TCP
#: connection too early. The promise of the come-back code excludes those sockets there.
IN_FLIGHT_RACE: frozenset[str] = frozenset(
    {"uvicorn-websockets", "uvicorn-websockets-sansio", "uvicorn-wsproto"}
)


def when(after: float | None) -> str:
    """A time after the signal, in words that do not change from run to run."""
    if after is None:
        return "never"
    if after < AT_ONCE:
        return "at once"
    return f"after {math.floor(after)} s"


def close_text(end: ClientEnd) -> str:
    """How a connection ended, without the time."""
    if end.left_open:
        return "left open"
    if end.rejected is not None:
        return "client fails 1002"
    if end.no_frame:
        return "no close frame (1006)"
    return f"{end.code} {end.reason!r}"


def client_text(end: ClientEnd) -> str:
    """How a python client's connection ended, and when."""
    text = close_text(end)
    return text if end.left_open else f"{text} {when(end.at)}"


def chromium_text(end: ClientEnd) -> str:
    """``CloseEvent.code`` (1006: no close frame), or "open"."""
    if end.left_open:
        return "open"
    return "1006" if end.no_frame else str(end.code)


def was_clean_text(ends: list[ClientEnd]) -> str:
    """Chromium's ``wasClean`` over every socket of a run."""
    values = {end.was_clean for end in ends if not end.left_open}
    if values == {True}:
        return "clean"
    if values == {False}:
        return "unclean"
    return "clean or not" if values else "open"


def handler_text(saw: list[dict[str, Any]], ended: list[dict[str, Any]]) -> str:
    """What one handler was told, and how (and when) it ended."""
    told = [line["what"] for line in saw if not line["what"].startswith("message")]
    parts = list(told)
    if not ended:
        parts.append("never resumed" if told else "never told")
        return ", ".join(parts)
    how = ended[-1]["how"]
    # "send raised X" already says the handler raised X.
    if not (how.startswith("raised ") and f"send {how}" in told):
        parts.append(how)
    return f"{', '.join(parts)} {when(ended[-1]['t'])}"


def record_text(records: list[dict[str, Any]]) -> str:
    """The guard's records of one connection."""
    if not records:
        return "no record"
    if len(records) > 1:
        return f"{len(records)} records"
    record = records[0]
    code = "no code" if record["code"] is None else str(record["code"])
    return f"{record['closed_by']} {code} {record['reason']!r}"


def errors_text(errors: Counter[str]) -> str:
    """The error lines a server logged after the signal."""
    if not errors:
        return "none"
    texts = []
    for line, count in sorted(errors.items()):
        if line.startswith("traceback: "):
            ending = line.removeprefix("traceback: ").rsplit(".", 1)[-1]
            texts.append(f"{count} traceback{'s' if count > 1 else ''} ending in {ending}")
        else:
            texts.append(f"{count} of `{line}`")
    return "; ".join(texts)


def exit_text(after: float | None, watched: float) -> str:
    """When the server and its workers were gone."""
    if after is None:
        return f"still running after {watched:g} s"
    return when(after)


def merged(values: dict[str, str]) -> str:
    """One text when every app gave the same, else each app's: ``plain: …; FastAPI: …``."""
    distinct = set(values.values())
    if len(distinct) == 1:
        return distinct.pop()
    names = {"plain": "plain", "fastapi": "FastAPI"}
    return "; ".join(f"{names.get(app, app)}: {text}" for app, text in values.items())
