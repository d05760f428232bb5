"""Building the guard around callables whose signature Python cannot read.

``inspect.signature`` raises ``ValueError`` for many C callables (``operator.attrgetter``
before Python 3.13, builtins such as ``max``, compiled extensions) and ``TypeError`` for an
object whose ``__signature__`` is not a ``Signature``. The guard cannot check such a callable when
it is built, so it trusts it as given: an app is served as ASGI 3, an ``on_close`` is called with
the record. Neither may be refused, nor break the first connection.
"""

from __future__ import annotations

import inspect
import logging
import operator
import sys
from typing import Any

import pytest

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._types import Receive, Scope, Send
from tests.harness import run


class _UnreadableSignature:
    """A callable whose signature ``inspect.signature`` raises ``error`` for."""

    def __init__(self, error: type[Exception]) -> None:
        self.error = error

    @property
    def __signature__(self) -> inspect.Signature:
        if self.error is TypeError:
            # What inspect raises for a __signature__ that is not a Signature.
            raise TypeError("unexpected object in __signature__ attribute")
        raise self.error("no signature found for this compiled callable")


class UnreadableApp(_UnreadableSignature):
    """An ASGI 3 app that accepts and closes with 4000, whose signature cannot be read."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "bye"})


class UnreadableCallback(_UnreadableSignature):
    """An ``on_close`` that keeps every record it is given, whose signature cannot be read."""

    def __init__(self, error: type[Exception]) -> None:
        super().__init__(error)
        self.records: list[CloseRecord] = []

    def __call__(self, *args: Any) -> None:
        self.records.extend(args)


UNREADABLE = [ValueError, TypeError]


@pytest.mark.parametrize("error", UNREADABLE, ids=lambda error: error.__name__)
def test_the_rows_really_have_no_readable_signature(error: type[Exception]) -> None:
    # The premise of every test below, checked on this Python.
    for unreadable in (UnreadableApp(error), UnreadableCallback(error)):
        with pytest.raises(error):
            inspect.signature(unreadable)
    for c_callable in (operator.attrgetter("code"), operator.methodcaller("__repr__")):
        if sys.version_info >= (3, 13):
            # Python 3.13 gave them a signature: they are then checked like any callable.
            assert str(inspect.signature(c_callable)) == "(obj, /)"
        else:
            with pytest.raises(ValueError, match="is not supported by signature"):
                inspect.signature(c_callable)


@pytest.mark.anyio
@pytest.mark.parametrize("error", UNREADABLE, ids=lambda error: error.__name__)
async def test_an_app_whose_signature_cannot_be_read_is_served_as_asgi3(
    error: type[Exception],
) -> None:
    app = UnreadableApp(error)
    guard = CloseGuardMiddleware(app)
    assert guard.app is app  # not wrapped as an ASGI 2 app
    outcome = await run(guard)
    assert outcome.exception is None
    assert outcome.server.only_close() == (4000, "bye")


@pytest.mark.anyio
@pytest.mark.parametrize("error", UNREADABLE, ids=lambda error: error.__name__)
async def test_an_on_close_whose_signature_cannot_be_read_gets_the_record(
    error: type[Exception],
) -> None:
    callback = UnreadableCallback(error)
    guard = CloseGuardMiddleware(UnreadableApp(ValueError), on_close=callback)
    assert guard.on_close == (callback,)
    await run(guard)
    [record] = callback.records
    assert (record.closed_by, record.code, record.reason) == ("app", 4000, "bye")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "on_close",
    [
        operator.attrgetter("code"),
        [operator.attrgetter("closed_by"), operator.methodcaller("__repr__")],
    ],
    ids=["attrgetter", "a sequence of them"],
)
async def test_a_c_callable_as_on_close_is_accepted_and_called_as_it_is(
    on_close: Any, caplog: pytest.LogCaptureFixture
) -> None:
    guard = CloseGuardMiddleware(UnreadableApp(ValueError), on_close=on_close)
    assert guard.on_close == (tuple(on_close) if isinstance(on_close, list) else (on_close,))
    with caplog.at_level(logging.ERROR, logger="asgi_closeguard"):
        outcome = await run(guard)
    assert outcome.server.only_close() == (4000, "bye")
    assert not caplog.records  # each was called with the record, and took it
