"""In-process cost of the guard per message: an echo app on an in-memory ASGI server.

Run from the repository root::

    python -m benchmarks.inprocess              # 100,000 messages x 21 rounds
    python -m benchmarks.inprocess --small      # the smoke run: a few messages, 3 rounds
    python -m benchmarks.inprocess --markdown   # and rewrite the figures of the docs

One connection per run: connect, accept, then ``--messages`` text messages echoed back (one
``receive`` and one ``send`` each), then the client's disconnect. Four variants run in
interleaved rounds, the order rotated every round:

``bare``       the echo app on its own;
``floor``      the least a middleware that watches both directions can do: ``receive``
               forwarded through one coroutine, ``send`` through one plain function that looks at
               the message type;
``floor-async`` the floor with ``send`` through a coroutine that awaits the server's ``send``
               in a ``try``: the least a middleware can do that sees a send fail, as the
               guard must (not one of the issue's four rows: it shows where the cost is);
``guard``      ``CloseGuardMiddleware`` with default options;
``starlette``  Starlette's ``ExceptionMiddleware`` (which wraps ``send`` in one coroutine), for
               scale: every FastAPI app already pays for it;
``guard-on-close`` the guard with an ``on_close`` set, so it counts messages for the record;
``otel``       OpenTelemetry's ASGI middleware with the SDK's tracer provider (no exporter): a
               span per message, as it is installed by default;
``otel-no-message-spans`` the same with ``exclude_spans=["receive", "send"]``;
``sentry``     Sentry's ASGI middleware (``sentry_sdk.init()`` without a DSN).

The peers (``otel*``, ``sentry``) are there where their packages are installed
(``opentelemetry-instrumentation-asgi`` and ``opentelemetry-sdk`` come with the test extra;
``sentry-sdk`` is an extra install): the comparison is one command.

Once the timing is done, each variant's bytecode instructions per echoed message are counted
with ``sys.settrace`` (opcode events, over 100 messages at steady state): a figure that does not
move with the machine's load, which says where the time goes. Code in C (the peers' libraries
partly are) runs no bytecode, so it counts for nothing there.

The in-memory server never blocks, so the app's coroutine is driven with a single
``coro.send(None)``: no event loop, no scheduler, nothing in the timing but the app, the
middleware and two trivial server coroutines. The report gives the median ns per message
(one echo: a receive and a send), and the median of the per-round ratios guard / floor, on the
wall clock (``time.perf_counter_ns``) and in the thread's CPU time (``time.thread_time_ns``),
which does not count the moments other processes had the core.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import linecache
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import asgi_closeguard
from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard._types import ASGIApp, Message, Receive, Scope, Send

from ._common import (
    add_docs_options,
    add_variants_option,
    chosen_variants,
    command_line,
    describe_machine,
    echo_app,
    finish,
    machine,
    measured,
    median,
    read_report,
    rotated,
    start_run,
    table,
)
from ._markdown import header, measured_at, short_header

#: The libraries whose versions a report's header names.
PACKAGES = ("starlette", "opentelemetry-instrumentation-asgi", "opentelemetry-sdk", "sentry-sdk")

#: Issue 21's target: with default options, the guard costs at most 1.25 times the floor per
#: echoed message (the median of the per-round ratios, on the wall clock and in CPU time).
TARGET_GUARD_OVER_FLOOR = 1.25
#: Messages over which bytecode instructions are counted (the difference between a run of
#: twice as many and a run of this many, so that the connection's start and end cancel out).
COUNTED_MESSAGES = 100

CONNECT: Message = {"type": "websocket.connect"}
TEXT: Message = {"type": "websocket.receive", "text": "hello"}
DISCONNECT: Message = {"type": "websocket.disconnect", "code": 1000, "reason": ""}


class FloorMiddleware:
    """The cheapest middleware that watches both directions of a WebSocket.

    ``receive`` goes through one coroutine (a middleware that must see what ``receive`` returns
    has to await it), ``send`` through one plain function that looks at the message type and
    hands back the server's own awaitable. It cannot see a server's send fail, nor do anything
    about it: no middleware that watches both directions can do less.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def watched_receive() -> Message:
            return await receive()

        def watched_send(message: Message) -> Any:
            if message["type"] != "websocket.send":
                pass  # where a guard would look at accept and close
            return send(message)

        await self.app(scope, watched_receive, watched_send)


class AsyncSendFloorMiddleware:
    """The floor, with ``send`` through a coroutine: the least a middleware can do that sees the
    server's send fail.

    To notice that the server's ``send`` raised, a middleware has to await it inside its own
    ``try``; that takes a coroutine of its own per message, which :class:`FloorMiddleware` does
    not pay for. The guard must notice (after a failed send, the next ``websocket.send`` raises
    its ``WebSocketClosedError`` and nothing reaches the server), so this is its real floor.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        send_failed = False

        async def watched_receive() -> Message:
            return await receive()

        async def watched_send(message: Message) -> None:
            nonlocal send_failed
            if message["type"] != "websocket.send":
                pass  # where a guard would look at accept and close
            try:
                await send(message)
            except OSError:
                send_failed = True
                raise

        await self.app(scope, watched_receive, watched_send)


def _starlette_exception_middleware(app: ASGIApp) -> ASGIApp:
    try:
        from starlette.middleware.exceptions import ExceptionMiddleware
    except ImportError as exc:  # pragma: no cover - starlette is a test dependency
        raise SystemExit(
            "the 'starlette' variant needs Starlette: pip install 'asgi-closeguard[test]', "
            "or leave it out with --variants bare,floor,guard"
        ) from exc
    middleware: ASGIApp = ExceptionMiddleware(app)
    return middleware


def _guard_with_on_close(app: ASGIApp) -> ASGIApp:
    return CloseGuardMiddleware(app, on_close=lambda record: None)


def _opentelemetry(*, message_spans: bool) -> Callable[[ASGIApp], ASGIApp]:
    def build(app: ASGIApp) -> ASGIApp:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.sdk.trace import TracerProvider

        excluded: list[Any] = [] if message_spans else ["receive", "send"]
        middleware: ASGIApp = OpenTelemetryMiddleware(
            app, tracer_provider=TracerProvider(), exclude_spans=excluded
        )
        return middleware

    return build


def _sentry(app: ASGIApp) -> ASGIApp:
    import sentry_sdk
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    sentry_sdk.init()  # no DSN: nothing is sent anywhere
    middleware: ASGIApp = SentryAsgiMiddleware(app)
    return middleware


def _installed(*modules: str) -> bool:
    import importlib.util

    try:
        return all(importlib.util.find_spec(module) is not None for module in modules)
    except ModuleNotFoundError:  # find_spec("a.b") imports "a", which may be missing
        return False


#: Every variant: a name and how to build its app around the echo app.
VARIANTS: dict[str, Callable[[ASGIApp], ASGIApp]] = {
    "bare": lambda app: app,
    "floor": FloorMiddleware,
    "floor-async": AsyncSendFloorMiddleware,
    "guard": CloseGuardMiddleware,
    "guard-on-close": _guard_with_on_close,
    "starlette": _starlette_exception_middleware,
}
if _installed("opentelemetry.instrumentation.asgi", "opentelemetry.sdk"):
    VARIANTS["otel"] = _opentelemetry(message_spans=True)
    VARIANTS["otel-no-message-spans"] = _opentelemetry(message_spans=False)
if _installed("sentry_sdk"):
    VARIANTS["sentry"] = _sentry


def new_scope() -> Scope:
    """A fresh WebSocket scope (middlewares may write to it)."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "root_path": "",
        "scheme": "ws",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "state": {},
        "extensions": {"websocket.http.response": {}},
    }


def in_memory_server(messages: int) -> tuple[Receive, Send]:
    """``receive`` and ``send`` of a server whose client connects, sends ``messages`` texts
    and disconnects. Neither ever blocks, and neither allocates per message."""
    script = itertools.chain((CONNECT,), itertools.repeat(TEXT, messages), (DISCONNECT,))
    next_message = script.__next__

    async def receive() -> Message:
        return next_message()

    async def send(message: Message) -> None:
        return None

    return receive, send


def as_coroutine(awaitable: Awaitable[None]) -> Coroutine[Any, Any, None]:
    """The coroutine an ASGI app call returned (typed as a mere awaitable), to drive by hand."""
    if not isinstance(awaitable, Coroutine):
        raise TypeError(f"expected an async def app, got {awaitable!r}")
    return awaitable


def drive(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends to its end, without an event loop."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("the app suspended: the in-memory server never blocks")


def time_one_connection(app: ASGIApp, messages: int) -> tuple[int, int]:
    """Nanoseconds for one connection of ``messages`` echoed messages through ``app``: on the
    wall clock, and in CPU time of this thread (which does not count the time other processes
    had the core: on a busy machine it moves much less)."""
    receive, send = in_memory_server(messages)
    coro = as_coroutine(app(new_scope(), receive, send))
    wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
    drive(coro)
    return time.perf_counter_ns() - wall, time.thread_time_ns() - cpu


def _counted_run(app: ASGIApp, messages: int, count: Callable[[FrameType], None]) -> None:
    """One connection of ``messages`` echoed messages through ``app`` (the in-memory server's
    two coroutines included), ``count`` called for every bytecode instruction it runs."""

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            count(frame)
        return trace

    def counted() -> None:
        receive, send = in_memory_server(messages)
        coro = as_coroutine(app(new_scope(), receive, send))
        sys.settrace(trace)
        try:
            drive(coro)
        finally:
            sys.settrace(None)

    # In a thread of its own: sys.settrace is per thread, so a tracer the caller's thread
    # already has (coverage's, under `pytest --cov`; a debugger's) is left as it was.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(counted).result()


def bytecode_instructions(app: ASGIApp, messages: int) -> int:
    """Bytecode instructions run by one connection of ``messages`` echoed messages."""
    total = 0

    def count(frame: FrameType) -> None:
        nonlocal total
        total += 1

    _counted_run(app, messages, count)
    return total


def instructions_per_message(app: ASGIApp) -> float:
    """Bytecode instructions per echoed message through ``app``, at steady state."""
    bytecode_instructions(app, COUNTED_MESSAGES)  # warm-up: first calls, lazy imports
    once = bytecode_instructions(app, COUNTED_MESSAGES)
    twice = bytecode_instructions(app, 2 * COUNTED_MESSAGES)
    return (twice - once) / COUNTED_MESSAGES


def guard_lines_per_message(app: ASGIApp) -> list[dict[str, Any]]:
    """The instructions per echoed message that each line of the guard's own code runs:
    where the guard's share of :func:`instructions_per_message` goes."""
    package = str(Path(asgi_closeguard.__file__).parent)

    def per_line(messages: int) -> Counter[tuple[str, int, str]]:
        counts: Counter[tuple[str, int, str]] = Counter()

        def count(frame: FrameType) -> None:
            code = frame.f_code
            if code.co_filename.startswith(package):
                counts[(code.co_filename, frame.f_lineno or 0, code.co_name)] += 1

        _counted_run(app, messages, count)
        return counts

    per_line(COUNTED_MESSAGES)  # warm-up
    once, twice = per_line(COUNTED_MESSAGES), per_line(2 * COUNTED_MESSAGES)
    return [
        {
            "file": str(Path(filename).relative_to(Path(package).parent)),
            "line": line,
            "function": function,
            "source": linecache.getline(filename, line).strip(),
            "instructions_per_message": (twice[key] - once[key]) / COUNTED_MESSAGES,
        }
        for key in sorted(twice)
        if twice[key] != once[key]
        for filename, line, function in (key,)
    ]


def _ratios(per_message: dict[str, list[float]]) -> dict[str, float]:
    """Median of the per-round ratios of every variant to the floor (and guard/floor-async)."""
    pairs = [(name, "floor") for name in per_message if name != "floor"]
    pairs.append(("guard", "floor-async"))
    return {
        f"{name}/{base}": median(
            [value / reference for value, reference in zip(values, per_message[base], strict=True)]
        )
        for name, base in pairs
        if base in per_message and name in per_message
        for values in (per_message[name],)
    }


def run(messages: int, rounds: int, variants: list[str]) -> dict[str, Any]:
    """Time every variant ``rounds`` times, interleaved; return the report as a dict."""
    apps = {name: VARIANTS[name](echo_app) for name in variants}
    for app in apps.values():  # warm-up: caches, specialised bytecode, allocator arenas
        time_one_connection(app, min(messages, 10_000))
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(rounds):
        for name in rotated(variants, round_number):
            gc.collect()
            wall_ns, cpu_ns = time_one_connection(apps[name], messages)
            wall[name].append(wall_ns / messages)
            cpu[name].append(cpu_ns / messages)
    # Counted after the timing: tracing must not touch the code while it is timed.
    instructions = {name: instructions_per_message(apps[name]) for name in variants}
    guard_lines = {
        name: guard_lines_per_message(apps[name])
        for name in ("guard", "guard-on-close")
        if name in variants
    }
    report: dict[str, Any] = {
        "benchmark": "inprocess",
        "machine": machine(),
        "messages": messages,
        "rounds": rounds,
        "variants": {
            name: {
                "median_ns_per_message": median(wall[name]),
                "min_ns_per_message": min(wall[name]),
                "max_ns_per_message": max(wall[name]),
                "ns_per_message": wall[name],
                "cpu_median_ns_per_message": median(cpu[name]),
                "cpu_ns_per_message": cpu[name],
                "bytecode_instructions_per_message": instructions[name],
            }
            for name in variants
        },
        "ratios": _ratios(wall),
        "cpu_ratios": _ratios(cpu),
        "guard_lines": guard_lines,
    }
    if "guard/floor" in report["ratios"]:
        # Met only if met on both clocks: on a busy machine one of them can flatter the guard.
        worst = max(report["ratios"]["guard/floor"], report["cpu_ratios"]["guard/floor"])
        report["target"] = {
            "guard/floor": TARGET_GUARD_OVER_FLOOR,
            "met": worst <= TARGET_GUARD_OVER_FLOOR,
        }
    return report


def _instructions(count: float) -> str:
    return f"{count:.0f}" if count == int(count) else f"{count:.1f}"


def render_figures(report: dict[str, Any]) -> str:
    """Every variant's figures, and the ratios: the in-process section of the docs."""
    variants = report["variants"]
    bare = variants.get("bare", {}).get("median_ns_per_message")
    rows = []
    for name, figures in variants.items():
        over_bare = f"{figures['median_ns_per_message'] - bare:+.0f}" if bare is not None else "n/a"
        ratios = [
            table_.get(f"{name}/floor", 1.0 if name == "floor" else None)
            for table_ in (report["ratios"], report["cpu_ratios"])
        ]
        rows.append(
            (
                name,
                f"{figures['median_ns_per_message']:.0f}",
                f"{figures['min_ns_per_message']:.0f}",
                over_bare,
                *("n/a" if ratio is None else f"{ratio:.3f}" for ratio in ratios),
                f"{figures['cpu_median_ns_per_message']:.0f}",
                _instructions(figures["bytecode_instructions_per_message"]),
            )
        )
    lines = [
        header(report, PACKAGES),
        "",
        f"{report['messages']:,} messages x {report['rounds']} interleaved rounds:",
        "",
        table(
            (
                "variant",
                "median ns/message",
                "min ns/message",
                "ns over bare",
                "median ratio to floor",
                "same, CPU time",
                "median CPU ns/message",
                "bytecode instructions/message",
            ),
            rows,
        ),
    ]
    ratios = [
        f"{pair} = {report['ratios'][pair]:.3f} (CPU time: {report['cpu_ratios'][pair]:.3f})"
        for pair in ("guard/floor", "guard-on-close/floor", "guard/floor-async")
        if pair in report["ratios"]
    ]
    if ratios:
        lines += ["", "; ".join(ratios) + "."]
    return "\n".join(lines)


def render_lines(report: dict[str, Any]) -> str:
    """Where the guard's instructions go, line by line: the lines of its hot path."""
    guard_lines = report["guard_lines"]
    if not guard_lines:
        return f"{short_header(report)} the guard was not run."
    names = list(guard_lines)
    per_variant = {
        name: {(e["file"], e["line"]): e["instructions_per_message"] for e in entries}
        for name, entries in guard_lines.items()
    }
    lines: dict[tuple[str, int], dict[str, Any]] = {}
    for entries in guard_lines.values():
        for entry in entries:
            lines.setdefault((entry["file"], entry["line"]), entry)
    rows = [
        (
            f"{entry['file']}:{entry['line']}",
            entry["function"],
            f"`{entry['source']}`",
            *(_instructions(per_variant[name].get(key, 0.0)) for name in names),
        )
        for key, entry in sorted(lines.items())
    ]
    totals = [_instructions(sum(per_variant[name].values())) for name in names]
    rows.append(("", "", "the guard's own lines, in all", *totals))
    lines_table = table(
        ("where", "function", "line", *(f"{name}: instructions" for name in names)), rows
    )
    variants = report["variants"]
    bare = variants.get("bare", {}).get("bytecode_instructions_per_message")
    if bare is None:
        return "\n".join([short_header(report), "", lines_table])
    over_bare = ", ".join(
        f"{name} {_instructions(figures['bytecode_instructions_per_message'] - bare)}"
        for name, figures in variants.items()
        if name != "bare"
    )
    return "\n".join(
        [
            short_header(report),
            "",
            lines_table,
            "",
            f"Instructions per echoed message over the bare app's {_instructions(bare)}: "
            f"{over_bare}.",
        ]
    )


def render_targets(report: dict[str, Any]) -> str:
    """Issue 21's target, met or not, with the figure beside it that has no target."""
    target = report.get("target")
    if target is None:
        return f"{short_header(report)} no guard/floor ratio (the guard or the floor not run)."
    rows = [
        (
            f"in process, guard / floor <= {target['guard/floor']:.2f} (#21; default options, "
            "median of per-round ratios, wall clock and CPU time)",
            f"{report['ratios']['guard/floor']:.3f} "
            f"(CPU time: {report['cpu_ratios']['guard/floor']:.3f})",
            "met" if target["met"] else "NOT met",
        )
    ]
    if "guard-on-close/floor" in report["ratios"]:
        rows.append(
            (
                "in process with `on_close` set, guard-on-close / floor (no target)",
                f"{report['ratios']['guard-on-close/floor']:.3f} "
                f"(CPU time: {report['cpu_ratios']['guard-on-close/floor']:.3f})",
                "",
            )
        )
    return "\n".join([short_header(report), "", table(("target", "measured", ""), rows)])


def render_readme(report: dict[str, Any]) -> str:
    """One line for the README: what the guard adds per message, against the floor."""
    variants, target = report["variants"], report.get("target")
    if target is None or "bare" not in variants:
        return "no figure (the benchmark ran without the bare app, the floor or the guard)"
    guard, bare = (variants[name]["median_ns_per_message"] for name in ("guard", "bare"))
    over_bare = guard - bare
    verdict = "met" if target["met"] else "not met"
    return (
        f"in process, {over_bare:.0f} ns per echoed message over the bare app, "
        f"{report['ratios']['guard/floor']:.3f} times the least a middleware watching both "
        f"directions costs (target: at most {target['guard/floor']:.2f}, {verdict}; "
        f"{measured_at(report)})"
    )


def markdown_blocks(report: dict[str, Any]) -> dict[str, str]:
    """The blocks of the docs this report renders, by name (see ``benchmarks/_markdown.py``)."""
    return {
        "benchmarks.inprocess": render_figures(report),
        "benchmarks.inprocess.lines": render_lines(report),
        "benchmarks.inprocess.targets": render_targets(report),
        "benchmarks.inprocess.readme": render_readme(report),
    }


def print_report(report: dict[str, Any]) -> None:
    """The report as Markdown: the blocks of the docs, as they are written there."""
    blocks = markdown_blocks(report)
    print(f"# In-process: {report['messages']:,} messages x {report['rounds']} rounds")
    print(f"machine: {describe_machine(report['machine'])}")
    print()
    print(blocks["benchmarks.inprocess"])
    print()
    print(blocks["benchmarks.inprocess.lines"])
    print()
    print(blocks["benchmarks.inprocess.targets"])


def main(argv: list[str] | None = None) -> None:
    prog = "python -m benchmarks.inprocess"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="tiny numbers: the smoke run")
    parser.add_argument("--messages", type=int, help="messages per connection (100,000)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (21)")
    add_variants_option(parser, VARIANTS)
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    add_docs_options(parser)
    args = parser.parse_args(argv)
    if args.from_json is not None:
        report = read_report(args.from_json, "inprocess")
    else:
        variants = chosen_variants(parser, args.variants, VARIANTS)
        messages = args.messages or (2_000 if args.small else 100_000)
        rounds = args.rounds or (3 if args.small else 21)
        started = start_run(command_line(prog, argv))
        report = measured(run(messages, rounds, variants), started)
    print_report(report)
    finish(
        "inprocess",
        report,
        markdown_blocks(report),
        args.json,
        args.markdown,
        from_json=args.from_json is not None,
    )


if __name__ == "__main__":
    main()
