"""What the contract says each scenario looks like behind the guard, and where a server differs.

Outcomes are compared as short, deterministic texts (:func:`client_text`, :func:`app_text`):
the same texts fill the tables in ``docs/servers.md``, so a failing test and the docs speak
the same language.

:data:`CONTRACT` holds one :class:`Expected` per scenario, the same for every server.
:data:`DEVIATIONS` lists every cell where a server, behind the guard, still differs: either a
``fallback`` (the guard's documented answer to a server that refuses what the contract asks)
or ``unfixable`` (the server's own protocol code decides, and no ASGI middleware sees it). The
suite asserts those cells too, so a server that changes its behaviour shows up here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from tests.servers.observe import ClientView, Outcome

#: Reasons longer than this are shown by size, not spelled out.
_LONG_REASON = 24


def _reason(reason: str | None) -> str:
    if reason is None:
        return "no reason"
    size = len(reason.encode("utf-8", "surrogatepass"))
    if len(reason) > _LONG_REASON:
        return f"{size}-byte reason"
    return repr(reason)


def _close(code: int | None, reason: str | None) -> str:
    if code == 1005:
        return "empty close frame (1005)"
    return f"{code} {_reason(reason)}"


def client_text(view: ClientView) -> str:
    """What the client saw, in one line."""
    if view.http_status is not None:
        return f"HTTP {view.http_status}"
    if view.handshake_failed == "unanswered":
        return "handshake unanswered"
    if view.handshake_failed is not None:
        return "no HTTP response"
    if view.client_error is not None:
        return f"client error: {view.client_error}"
    if view.left_open:
        end = "left open"
    elif view.rejected is not None:
        end = f"client fails 1002: {view.rejected}"
    elif view.no_close_frame:
        end = "no close frame (1006)"
    else:
        end = _close(view.close_code, view.close_reason)
    if view.echoed is not None:
        return ("echo ✓; reply " if view.echoed else "echo ✗; reply ") + end
    return end


def _event(found: dict[str, Any] | None) -> str:
    """A ``receive()`` result recorded by the app (see ``apps._receive_bounded``)."""
    if not found:
        return "nothing"
    if found.get("timeout"):
        return "receive() blocked"
    if "raised" in found:
        return f"receive() raised {_exception(found['raised'])}"
    event = found.get("event") or found
    if event.get("type") != "websocket.disconnect":
        return str(event.get("type"))
    code = event.get("code", "no code")
    if code is None:
        code = "code None"
    reason = _reason(event["reason"]) if "reason" in event else "no reason"
    return f"{code} {reason}"


def _exception(raised: dict[str, Any] | None) -> str:
    if raised is None:
        return "nothing"
    kind = str(raised["type"])
    return f"{kind} (an OSError)" if raised.get("oserror") else kind


def app_text(outcome: Outcome) -> str:
    """What the app observed, in one line ("" when the scenario records nothing)."""
    report = outcome.app or {}
    parts: list[str] = []
    if "report_error" in report:
        parts.append(f"no report: {report['report_error']}")
    if "close_raised" in report and report["close_raised"] is not None:
        parts.append(f"close raised {_exception(report['close_raised'])}")
    if "next_receive" in report:
        parts.append(f"then receive(): {_event(report['next_receive'])}")
    if "second_raised" in report:
        second = report["second_raised"]
        parts.append(
            "2nd close: ignored" if second is None else f"2nd close raised {_exception(second)}"
        )
    if "send_raised" in report and "received" not in report:
        sent = report["send_raised"]
        parts.append(
            "send: silently dropped" if sent is None else f"send raised {_exception(sent)}"
        )
    if "received" in report:
        parts.append(f"gets {_event(report['received'])}")
        sent = report.get("send_raised")
        parts.append(
            "then send: silently dropped"
            if sent is None
            else f"then send raised {_exception(sent)}"
        )
    if "disconnect" in report:
        parts.append(f"gets {_event({'event': report['disconnect']})}")
    if outcome.logged is not None:
        parts.append("traceback logged" if outcome.logged else "nothing logged")
    return "; ".join(parts)


@dataclass(frozen=True)
class Expected:
    """The texts one scenario must produce: what the client sees, what the app observes."""

    client: str
    app: str = ""


def _after_close(code: int, reason: str) -> Expected:
    return Expected(_close(code, reason), f"then receive(): {_close(code, reason)}")


_SEND_REFUSED = "then send raised WebSocketClosedError (an OSError)"

#: The contract, scenario by scenario: what every server shows behind the guard.
CONTRACT: dict[str, Expected] = {
    "echo": Expected("echo ✓; reply 1000 'done'", "gets 1000 'done'"),
    "crash": Expected("1011 'Internal Error'", "traceback logged"),
    "timeout": Expected("1013 'Try Again Later'", "traceback logged"),
    "crash-before-accept": Expected("HTTP 500", "traceback logged"),
    "return": Expected("1000 ''"),
    "return-before-accept": Expected("HTTP 403"),
    "close-1000": _after_close(1000, "why"),
    "close-1001": _after_close(1001, "why"),
    "close-1011": _after_close(1011, "why"),
    "close-4000": _after_close(4000, "why"),
    "close-4000-return": Expected("4000 'why'"),
    "close-1005": _after_close(1000, "why"),
    "close-1006": _after_close(1011, "why"),
    "close-999": _after_close(1011, "why"),
    "close-65536": _after_close(1011, "why"),
    "close-none": _after_close(1000, ""),
    "close-missing": _after_close(1000, ""),
    # 75 two-byte characters cut at a character boundary to 60, plus "…": 123 bytes.
    "close-reason-150": Expected("4000 123-byte reason", "then receive(): 4000 123-byte reason"),
    "close-twice": Expected("1000 'first'", "2nd close: ignored"),
    "send-after-close": Expected("1000 'closing'", "send raised WebSocketClosedError (an OSError)"),
    "client-4001": Expected("reply 4001 'bye'", f"gets 4001 'bye'; {_SEND_REFUSED}"),
    "client-empty": Expected("reply empty close frame (1005)", f"gets 1005 ''; {_SEND_REFUSED}"),
    "client-drop": Expected("", f"gets 1006 ''; {_SEND_REFUSED}"),
}

Category = Literal["fallback", "unfixable"]


@dataclass(frozen=True)
class Deviation:
    """A cell where a server, behind the guard, differs from :data:`CONTRACT`, and why."""

    category: Category
    notes: tuple[str, ...]  # keys into NOTES
    client: str | None = None  # the text the client part shows instead (None: as contracted)
    app: str | None = None  # the text the app part shows instead

    def apply(self, expected: Expected) -> Expected:
        """The contract's texts with this deviation's replacements."""
        return replace(
            expected,
            client=expected.client if self.client is None else self.client,
            app=expected.app if self.app is None else self.app,
        )


#: The notes that describe a fallback of the guard; every other note is a server limit.
FALLBACK_NOTES: frozenset[str] = frozenset({"daphne-refuses"})

#: Why each deviation exists; the docs print these.
NOTES: dict[str, str] = {
    "daphne-refuses": (
        "daphne 4.2.3 sends only 1000 and 3000-4999 (autobahn's `sendClose` raises for any "
        "other code and the socket then stays open for daphne's 24-hour `websocket_timeout`). "
        "For an app's close the guard falls back to a code daphne takes that still means the "
        "same to a client deciding whether to come back (and logs a warning): the codes that "
        "say so — 1001, 1011, 1012, 1013, 1014 — become the private-use code with the same "
        "last three digits (4001, 4011, 4012, 4013, 4014), any other code 1000; an error or a "
        "restart never becomes 1000. For an exception it re-raises, and daphne closes with its "
        "own 1011 — for a mapped code such as 1013 too."
    ),
    "daphne-app-reason": (
        "daphne 4.2.3 never sends the app's close reason: `serverClose` passes only the code to "
        "autobahn. The reason exists only inside daphne's protocol object, out of an ASGI "
        "middleware's reach."
    ),
    "daphne-reply": (
        "daphne answers a client's close frame with 1000 and no reason instead of echoing the "
        "client's code: autobahn's `echoCloseCodeReason` defaults to off and daphne 4.2.3 "
        "leaves it so. The reply is written by the protocol, never passing through ASGI."
    ),
    "client-reason-dropped": (
        "daphne 4.2.3, granian 2.8 and gunicorn 27.0.1 leave the reason of the client's close "
        'out of `websocket.disconnect`: the guard can only fill in `""`.'
    ),
    "gunicorn-empty-reply": (
        "gunicorn 27.0.1 answers a close frame without a code with `1000 ''` rather than an "
        "empty close frame (RFC 6455 §5.5.1: the answer usually echoes the code it got, and "
        "there was none). Its protocol writes the answer before the app hears of the close."
    ),
    "hypercorn-1006": (
        "hypercorn 0.18 reports every clean client close as 1006: its protocol answers the "
        "client's close frame and ends the stream before the app hears of it, so "
        "`websocket.disconnect` never carries the client's code or reason."
    ),
    "drop-1005": (
        "uvicorn's websockets-sansio and wsproto implementations and granian 2.8 report a "
        'TCP connection that ended without a close frame as 1005 ("no status") rather than '
        "1006 (RFC 6455 §7.1.5): from `websocket.disconnect` alone a middleware cannot tell "
        "that from an empty close frame."
    ),
}


def _daphne_close(code: int, reason: str, *, refused: bool = False) -> Deviation:
    # daphne drops the reason on the wire; the app's receive() still reports what went out.
    return Deviation(
        "fallback" if refused else "unfixable",
        ("daphne-refuses", "daphne-app-reason") if refused else ("daphne-app-reason",),
        client=f"{code} ''",
        app=f"then receive(): {_close(code, reason)}",
    )


# On daphne a refused 1001 or 1011 keeps its "come back" meaning as 4001 or 4011; 1006, 999 and
# 65536 are replaced by 1011 before daphne refuses that.
DEVIATIONS: dict[tuple[str, str], Deviation] = {
    ("daphne", "crash"): Deviation("fallback", ("daphne-refuses",), client="1011 ''"),
    ("daphne", "timeout"): Deviation("fallback", ("daphne-refuses",), client="1011 ''"),
    ("daphne", "close-1000"): _daphne_close(1000, "why"),
    ("daphne", "close-1001"): _daphne_close(4001, "why", refused=True),
    ("daphne", "close-1011"): _daphne_close(4011, "why", refused=True),
    ("daphne", "close-4000"): _daphne_close(4000, "why"),
    ("daphne", "close-4000-return"): Deviation("unfixable", ("daphne-app-reason",), "4000 ''"),
    ("daphne", "close-1005"): _daphne_close(1000, "why"),
    ("daphne", "close-1006"): _daphne_close(4011, "why", refused=True),
    ("daphne", "close-999"): _daphne_close(4011, "why", refused=True),
    ("daphne", "close-65536"): _daphne_close(4011, "why", refused=True),
    ("daphne", "close-reason-150"): Deviation(
        "unfixable",
        ("daphne-app-reason",),
        client="4000 ''",
        app="then receive(): 4000 123-byte reason",
    ),
    ("daphne", "close-twice"): Deviation("unfixable", ("daphne-app-reason",), "1000 ''"),
    ("daphne", "send-after-close"): Deviation("unfixable", ("daphne-app-reason",), "1000 ''"),
    ("daphne", "echo"): Deviation(
        "unfixable",
        ("daphne-reply", "client-reason-dropped"),
        client="echo ✓; reply 1000 ''",
        app="gets 1000 ''",
    ),
    ("daphne", "client-4001"): Deviation(
        "unfixable",
        ("daphne-reply", "client-reason-dropped"),
        client="reply 1000 ''",
        app=f"gets 4001 ''; {_SEND_REFUSED}",
    ),
    ("daphne", "client-empty"): Deviation("unfixable", ("daphne-reply",), client="reply 1000 ''"),
    ("granian", "echo"): Deviation("unfixable", ("client-reason-dropped",), app="gets 1000 ''"),
    ("granian", "client-4001"): Deviation(
        "unfixable", ("client-reason-dropped",), app=f"gets 4001 ''; {_SEND_REFUSED}"
    ),
    ("hypercorn", "echo"): Deviation("unfixable", ("hypercorn-1006",), app="gets 1006 ''"),
    ("hypercorn", "client-4001"): Deviation(
        "unfixable", ("hypercorn-1006",), app=f"gets 1006 ''; {_SEND_REFUSED}"
    ),
    ("hypercorn", "client-empty"): Deviation(
        "unfixable", ("hypercorn-1006",), app=f"gets 1006 ''; {_SEND_REFUSED}"
    ),
    ("gunicorn", "echo"): Deviation("unfixable", ("client-reason-dropped",), app="gets 1000 ''"),
    ("gunicorn", "client-4001"): Deviation(
        "unfixable", ("client-reason-dropped",), app=f"gets 4001 ''; {_SEND_REFUSED}"
    ),
    ("gunicorn", "client-empty"): Deviation(
        "unfixable", ("gunicorn-empty-reply",), client="reply 1000 ''"
    ),
    **{
        (kind, "client-drop"): Deviation(
            "unfixable", ("drop-1005",), app=f"gets 1005 ''; {_SEND_REFUSED}"
        )
        for kind in ("uvicorn-websockets-sansio", "uvicorn-wsproto", "granian")
    },
}


def expected(kind: str, scenario: str) -> Expected:
    """What ``scenario`` must look like on server ``kind`` behind the guard."""
    deviation = DEVIATIONS.get((kind, scenario))
    contract = CONTRACT[scenario]
    return contract if deviation is None else deviation.apply(contract)


def observed(outcome: Outcome) -> Expected:
    """An outcome in the same texts as :data:`CONTRACT`."""
    if outcome.scenario == "client-drop":
        client = ""  # the client itself cut the connection: nothing to see
    elif outcome.scenario.startswith("client-"):
        client = "reply " + client_text(outcome.client)  # the server's answer to its close
    else:
        client = client_text(outcome.client)
    return Expected(client, app_text(outcome))
