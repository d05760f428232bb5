"""In-process cost of the ``on_close`` integrations per connection: Prometheus, OpenTelemetry.

Run from the repository root::

    python -m benchmarks.integrations            # 20,000 connections x 15 rounds
    python -m benchmarks.integrations --small    # the smoke run: a few connections, 3 rounds

Each connection: connect, accept, the client's close (1000), on the in-memory server of
:mod:`benchmarks.inprocess`, awaited one after the other in one asyncio task. The scope carries
a matched route, as Starlette's router leaves it, so every record has a route label. Variants,
in interleaved rounds with the order rotated every round:

``guard``               the guard, no ``on_close``: no record is built;
``callback``            ``on_close`` a function that does nothing: what building the record
                        and calling a callback costs, the base of the next three;
``prometheus``          ``CloseMetrics`` on a registry of its own: the guard tells it of the
                        accept (its gauge of open connections) and hands it the record;
``opentelemetry``       ``CloseTelemetry`` on the SDK's ``MeterProvider`` with an in-memory
                        reader (never collected while timing), no span current; told of the
                        accept and handed the record, as ``prometheus``;
``opentelemetry-span``  the same, with a recording SDK span current for each connection, as
                        under the ASGI instrumentation or ``FastAPI(telemetry=...)`` (the span is
                        made before the timer starts and ended after it stops).

The report gives the median ns per connection, the ns each variant adds to ``callback``
(what the integration itself costs), and the median of the per-round ratios to ``guard``, on
the wall clock and in the thread's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from asgi_closeguard import CloseGuardMiddleware, CloseRecord
from asgi_closeguard._types import ASGIApp, Scope

from ._common import (
    add_variants_option,
    chosen_variants,
    describe_machine,
    echo_app,
    flush,
    machine,
    median,
    print_table,
    rotated,
    write_json,
)
from .inprocess import in_memory_server, new_scope

#: What Starlette's router puts in ``scope["route"]``: only its ``path`` is read.
ROUTE = SimpleNamespace(path="/echo/{room}")


def _nothing(record: CloseRecord) -> None:
    return None


def _prometheus() -> Callable[[CloseRecord], None]:
    from prometheus_client import CollectorRegistry

    from asgi_closeguard.prometheus import CloseMetrics

    return CloseMetrics(registry=CollectorRegistry())


def _opentelemetry() -> Callable[[CloseRecord], None]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from asgi_closeguard.opentelemetry import CloseTelemetry

    return CloseTelemetry(meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))


#: Every variant: how to build its ``on_close`` (``None``: no callback), and whether a
#: recording span is current during each connection.
VARIANTS: dict[str, tuple[Callable[[], Any] | None, bool]] = {
    "guard": (None, False),
    "callback": (lambda: _nothing, False),
    "prometheus": (_prometheus, False),
    "opentelemetry": (_opentelemetry, False),
    "opentelemetry-span": (_opentelemetry, True),
}


def routed_scope() -> Scope:
    """A fresh WebSocket scope with the route the router matched."""
    scope = new_scope()
    scope["route"] = ROUTE
    return scope


class SpanFactory:
    """Makes a recording SDK span current around each connection, outside the timed part."""

    def __init__(self) -> None:
        from opentelemetry import context, trace
        from opentelemetry.sdk.trace import TracerProvider

        self._context = context
        self._trace = trace
        self._tracer = TracerProvider().get_tracer("benchmarks.integrations")

    def enter(self) -> tuple[Any, Any]:
        span = self._tracer.start_span("WS /echo/{room}", kind=self._trace.SpanKind.SERVER)
        token = self._context.attach(self._trace.set_span_in_context(span))
        return span, token

    def exit(self, entered: tuple[Any, Any]) -> None:
        span, token = entered
        self._context.detach(token)
        span.end()


async def time_connections(
    app: ASGIApp, connections: int, spans: SpanFactory | None
) -> tuple[int, int]:
    """Nanoseconds (wall clock, thread CPU time) for ``connections`` connections through
    ``app``, each a connect, an accept and the client's close; spans are made untimed.

    Each connection is awaited in the running task: the in-memory server never blocks, so
    the event loop never gets control, but the guard finds the task it runs in."""
    wall = cpu = 0
    for _ in range(connections):
        receive, send = in_memory_server(0)
        scope = routed_scope()
        entered = spans.enter() if spans is not None else None
        wall_start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
        await app(scope, receive, send)
        wall += time.perf_counter_ns() - wall_start
        cpu += time.thread_time_ns() - cpu_start
        if spans is not None and entered is not None:
            spans.exit(entered)
    return wall, cpu


def _ratios(per_connection: dict[str, list[float]]) -> dict[str, float]:
    """Median of the per-round ratios of every variant to ``guard``."""
    base = per_connection.get("guard")
    if base is None:
        return {}
    return {
        f"{name}/guard": median([v / b for v, b in zip(values, base, strict=True)])
        for name, values in per_connection.items()
        if name != "guard"
    }


def run(connections: int, rounds: int, variants: list[str]) -> dict[str, Any]:
    """Time every variant ``rounds`` times, interleaved; return the report as a dict."""
    return asyncio.run(_run(connections, rounds, variants))


async def _run(connections: int, rounds: int, variants: list[str]) -> dict[str, Any]:
    apps: dict[str, ASGIApp] = {}
    spans: dict[str, SpanFactory | None] = {}
    for name in variants:
        make_callback, with_span = VARIANTS[name]
        on_close = make_callback() if make_callback is not None else None
        apps[name] = CloseGuardMiddleware(echo_app, on_close=on_close)
        spans[name] = SpanFactory() if with_span else None
    for name in variants:  # warm-up: caches, label children, specialised bytecode
        await time_connections(apps[name], min(connections, 2_000), spans[name])
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(rounds):
        for name in rotated(variants, round_number):
            gc.collect()
            wall_ns, cpu_ns = await time_connections(apps[name], connections, spans[name])
            wall[name].append(wall_ns / connections)
            cpu[name].append(cpu_ns / connections)
    medians = {name: median(wall[name]) for name in variants}
    return {
        "benchmark": "integrations",
        "machine": machine(),
        "connections": connections,
        "rounds": rounds,
        "variants": {
            name: {
                "median_ns_per_connection": medians[name],
                "min_ns_per_connection": min(wall[name]),
                "ns_per_connection": wall[name],
                "cpu_median_ns_per_connection": median(cpu[name]),
                "cpu_ns_per_connection": cpu[name],
                "ns_over_callback": (
                    medians[name] - medians["callback"] if "callback" in medians else None
                ),
            }
            for name in variants
        },
        "ratios": _ratios(wall),
        "cpu_ratios": _ratios(cpu),
    }


def print_report(report: dict[str, Any]) -> None:
    """The report as Markdown: one row per variant."""
    print(f"# Integrations: {report['connections']:,} connections x {report['rounds']} rounds")
    print(f"machine: {describe_machine(report['machine'])}")
    print()
    rows = []
    for name, figures in report["variants"].items():
        over = figures["ns_over_callback"]
        ratios = [
            table.get(f"{name}/guard", 1.0 if name == "guard" else None)
            for table in (report["ratios"], report["cpu_ratios"])
        ]
        rows.append(
            (
                name,
                f"{figures['median_ns_per_connection']:,.0f}",
                "n/a" if over is None else f"{over:+,.0f}",
                *("n/a" if ratio is None else f"{ratio:.3f}" for ratio in ratios),
                f"{figures['cpu_median_ns_per_connection']:,.0f}",
            )
        )
    print_table(
        (
            "variant",
            "median ns/connection",
            "ns over callback",
            "median ratio to guard",
            "same, CPU time",
            "median CPU ns/connection",
        ),
        rows,
    )
    flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.integrations", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--small", action="store_true", help="tiny numbers: the smoke run")
    parser.add_argument("--connections", type=int, help="connections per round (20,000)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (15)")
    add_variants_option(parser, VARIANTS)
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    args = parser.parse_args(argv)
    variants = chosen_variants(parser, args.variants, VARIANTS)
    connections = args.connections or (200 if args.small else 20_000)
    rounds = args.rounds or (3 if args.small else 15)
    report = run(connections, rounds, variants)
    print_report(report)
    path = write_json(report, args.json, "integrations.json")
    print(f"\nJSON report: {path}")


if __name__ == "__main__":
    main()
