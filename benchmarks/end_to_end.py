"""End-to-end cost of the guard: uvicorn serving an echo app, bare and guarded.

Run from the repository root::

    python -m benchmarks.end_to_end             # 50 clients x 2,000 messages, 9 rounds
    python -m benchmarks.end_to_end --small     # the smoke run: 2 clients x 20 messages
    python -m benchmarks.end_to_end --markdown  # and rewrite the figures of the docs

For each uvicorn WebSocket implementation (``websockets-sansio`` and ``wsproto``), every round
starts a fresh uvicorn on 127.0.0.1 serving ``benchmarks.apps:app``: the echo app bare on
``/bare`` and guarded on ``/guarded``, in the same process (see ``benchmarks/apps.py`` for why).
The client process (``benchmarks._client``, a process of its own) echoes ``--messages``
messages on each of ``--clients`` concurrent connections to one path, then the other; the order
alternates round by round. Reported: messages per second (echoes,
timed from the moment every connection is open to the last echo) and the median of the
per-round ratios guarded / bare; and the server process's CPU time (user + system, from
/proc) per message, whose ratio bare / guarded is the throughput ratio a server that is the
bottleneck would show.

Client and server compete for the same cores: on a two-core machine the figures move with
anything else that runs meanwhile, which is why the runs are interleaved and the ratio is taken
round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.servers import REPO_ROOT, Server, run_server

from ._common import (
    add_docs_options,
    command_line,
    describe_machine,
    finish,
    machine,
    measured,
    median,
    read_report,
    rotated,
    start_run,
    table,
)
from ._markdown import header, short_header
from .apps import PATHS

#: The libraries whose versions a report's header names.
PACKAGES = ("uvicorn", "websockets", "wsproto")

#: Issue 7's target: the guarded server keeps at least 98 % of the bare server's throughput.
TARGET_GUARDED_OVER_BARE = 0.98

#: uvicorn's WebSocket implementations measured, as ``tests.support.servers`` names them.
SERVER_KINDS = ("uvicorn-websockets-sansio", "uvicorn-wsproto")
#: One app serving the echo app bare on /bare and guarded on /guarded.
APP = "benchmarks.apps:app"


_CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process ``pid`` has used so far (Linux, /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return (user_ticks + system_ticks) / _CLOCK_TICKS_PER_SECOND


def pinned_cores() -> tuple[int, int] | None:
    """One core for the servers and another for the client, when the machine has two."""
    cores = sorted(os.sched_getaffinity(0))
    return (cores[0], cores[1]) if len(cores) >= 2 else None


def run_client(
    server: Server,
    variant: str,
    clients: int,
    messages: int,
    timeout: float,
    client_core: int | None,
) -> dict[str, float]:
    """One measurement: the client process against ``variant`` ("bare" or "guarded") on
    ``server``; its JSON result, plus the CPU time the server spent meanwhile
    (``server_cpu_seconds``)."""
    command = [
        sys.executable,
        "-m",
        "benchmarks._client",
        server.ws_url(PATHS[variant]),
        "--clients",
        str(clients),
        "--messages",
        str(messages),
        "--timeout",
        str(timeout),
    ]
    if client_core is not None:
        command += ["--cpu", str(client_core)]
    cpu_before = cpu_seconds(server.pid)
    completed = subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"the benchmark client failed against {variant} on {server.kind}:\n"
            f"{completed.stderr}\nserver output:\n{server.output()}"
        )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["server_cpu_seconds"] = cpu_seconds(server.pid) - cpu_before
    return result


def _figures(per_second: list[float], cpu_us: list[float]) -> dict[str, Any]:
    return {
        "median_per_second": median(per_second),
        "per_second": per_second,
        "median_server_cpu_us_per_message": median(cpu_us),
        "server_cpu_us_per_message": cpu_us,
    }


def _against_bare(
    per_second: dict[str, list[float]], cpu_us: dict[str, list[float]], name: str
) -> dict[str, Any]:
    """Per-round ratios of variant ``name`` to bare: throughput ``name`` / bare, and server CPU
    per message bare / ``name`` (the throughput ratio a server that is the bottleneck would
    show; unlike wall-clock throughput, it does not move with whatever else shares the cores)."""
    ratios = [
        value / bare for value, bare in zip(per_second[name], per_second["bare"], strict=True)
    ]
    # The CPU clock ticks every 10 ms: a tiny run may show none (then there is no ratio).
    cpu_ratios = [
        bare / value
        for value, bare in zip(cpu_us[name], cpu_us["bare"], strict=True)
        if value > 0 and bare > 0
    ]
    return {
        "ratios": ratios,
        "median_ratio": median(ratios),
        "cpu_ratios": cpu_ratios,
        "median_cpu_ratio": median(cpu_ratios),
    }


def measure_kind(
    kind: str,
    clients: int,
    messages: int,
    rounds: int,
    timeout: float,
    pin: bool,
    variants: tuple[str, ...] = ("bare", "guarded"),
) -> dict[str, Any]:
    """Interleaved rounds of ``variants`` (always with bare and guarded) on uvicorn with
    WebSocket implementation ``kind``.

    With ``pin``, the server runs on one core and the client on another, so that neither
    migrates between cores in the middle of a run.
    """
    cores = pinned_cores() if pin else None
    client_core = cores[1] if cores else None
    per_second: dict[str, list[float]] = {name: [] for name in variants}
    cpu_us: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(rounds):
        # A fresh server every round: what a process happens to be like (where its memory
        # landed, ...) is shared by every variant within the round, and varies between rounds.
        with run_server(kind, APP) as server:
            if cores is not None:
                os.sched_setaffinity(server.pid, {cores[0]})
            # Warm-up, not counted: first connections, the server's and the app's caches.
            for name in variants:
                run_client(server, name, clients, max(1, messages // 10), timeout, client_core)
            for name in rotated(variants, round_number):
                result = run_client(server, name, clients, messages, timeout, client_core)
                per_second[name].append(result["per_second"])
                cpu_us[name].append(1e6 * result["server_cpu_seconds"] / result["messages"])
            if "Traceback" in server.output():
                raise RuntimeError(f"{kind} logged an error:\n{server.output()}")
    guarded = _against_bare(per_second, cpu_us, "guarded")
    # Met only if met by throughput and by CPU: on a busy machine either can flatter the guard.
    worst = min(guarded["median_ratio"], guarded["median_cpu_ratio"] or guarded["median_ratio"])
    return {
        "server": kind,
        **{name: _figures(per_second[name], cpu_us[name]) for name in variants},
        **guarded,
        "target_met": worst >= TARGET_GUARDED_OVER_BARE,
        "others": {
            name: _against_bare(per_second, cpu_us, name)
            for name in variants
            if name not in ("bare", "guarded")
        },
    }


def run(
    kinds: list[str],
    clients: int,
    messages: int,
    rounds: int,
    timeout: float,
    pin: bool = True,
    variants: tuple[str, ...] = ("bare", "guarded"),
) -> dict[str, Any]:
    """Measure every server kind; return the report as a dict."""
    cores = pinned_cores() if pin else None
    return {
        "benchmark": "end_to_end",
        "machine": machine(),
        "clients": clients,
        "messages_per_client": messages,
        "rounds": rounds,
        "pinned": {"server_core": cores[0], "client_core": cores[1]} if cores else None,
        "target": {"guarded/bare": TARGET_GUARDED_OVER_BARE},
        "variants": list(variants),
        "servers": [
            measure_kind(kind, clients, messages, rounds, timeout, pin, variants) for kind in kinds
        ],
    }


def _range(ratios: list[float]) -> str:
    return f"{min(ratios):.3f}-{max(ratios):.3f}" if ratios else "n/a (run too short)"


def render_figures(report: dict[str, Any]) -> str:
    """Throughput, server CPU, and the other variants: the docs' end-to-end section."""
    servers = report["servers"]
    target = report["target"]["guarded/bare"]
    pinned = report["pinned"]
    lines = [
        header(report, PACKAGES),
        "",
        f"{report['clients']} clients x {report['messages_per_client']:,} messages, "
        f"{report['rounds']} interleaved rounds"
        + (
            f"; servers pinned to core {pinned['server_core']}, client to {pinned['client_core']}"
            if pinned
            else ""
        )
        + ". Throughput (messages echoed per second, wall clock):",
        "",
        table(
            (
                "server",
                "bare msgs/s",
                "guarded msgs/s",
                "median ratio guarded/bare",
                "ratio range",
                f"target >= {target:.2f}",
            ),
            [
                (
                    figures["server"],
                    f"{figures['bare']['median_per_second']:,.0f}",
                    f"{figures['guarded']['median_per_second']:,.0f}",
                    f"{figures['median_ratio']:.3f}",
                    _range(figures["ratios"]),
                    "met" if figures["target_met"] else "NOT met",
                )
                for figures in servers
            ],
        ),
        "",
        "Server CPU per message (user + system time of the server process):",
        "",
        table(
            (
                "server",
                "bare us/message",
                "guarded us/message",
                "median ratio bare/guarded",
                "ratio range",
            ),
            [
                (
                    figures["server"],
                    f"{figures['bare']['median_server_cpu_us_per_message']:.1f}",
                    f"{figures['guarded']['median_server_cpu_us_per_message']:.1f}",
                    f"{figures['median_cpu_ratio']:.3f}" if figures["cpu_ratios"] else "n/a",
                    _range(figures["cpu_ratios"]),
                )
                for figures in servers
            ],
        ),
    ]
    others = [
        (figures["server"], name, figures[name], ratios)
        for figures in servers
        for name, ratios in figures["others"].items()
    ]
    if others:
        lines += [
            "",
            "Other middlewares, against bare in the same rounds:",
            "",
            table(
                (
                    "server",
                    "variant",
                    "msgs/s",
                    "median ratio to bare",
                    "us/message",
                    "median CPU ratio bare/variant",
                ),
                [
                    (
                        kind,
                        name,
                        f"{figures['median_per_second']:,.0f}",
                        f"{ratios['median_ratio']:.3f}",
                        f"{figures['median_server_cpu_us_per_message']:.1f}",
                        f"{ratios['median_cpu_ratio']:.3f}" if ratios["cpu_ratios"] else "n/a",
                    )
                    for kind, name, figures, ratios in others
                ],
            ),
        ]
    return "\n".join(lines)


def render_targets(report: dict[str, Any]) -> str:
    """Issue 7's end-to-end target, per server: met or not, by throughput and by CPU."""
    target = report["target"]["guarded/bare"]
    rows = [
        (
            f"end to end on {figures['server']}, guarded / bare >= {target:.2f} (#7; median of "
            "per-round ratios, by throughput and by server CPU)",
            f"{figures['median_ratio']:.3f} by throughput, "
            + (
                f"{figures['median_cpu_ratio']:.3f} by server CPU"
                if figures["cpu_ratios"]
                else "n/a by server CPU"
            ),
            "met" if figures["target_met"] else "NOT met",
        )
        for figures in report["servers"]
    ]
    return "\n".join([short_header(report), "", table(("target", "measured", ""), rows)])


def markdown_blocks(report: dict[str, Any]) -> dict[str, str]:
    """The blocks of the docs this report renders, by name (see ``benchmarks/_markdown.py``)."""
    return {
        "benchmarks.end_to_end": render_figures(report),
        "benchmarks.end_to_end.targets": render_targets(report),
    }


def print_report(report: dict[str, Any]) -> None:
    """The report as Markdown: the blocks of the docs, as they are written there."""
    blocks = markdown_blocks(report)
    print(
        f"# End to end: {report['clients']} clients x {report['messages_per_client']:,} messages,"
        f" {report['rounds']} interleaved rounds"
    )
    print(f"machine: {describe_machine(report['machine'])}")
    print()
    print(blocks["benchmarks.end_to_end"])
    print()
    print(blocks["benchmarks.end_to_end.targets"])


def main(argv: list[str] | None = None) -> None:
    prog = "python -m benchmarks.end_to_end"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="tiny numbers: the smoke run")
    parser.add_argument("--clients", type=int, help="concurrent connections (50)")
    parser.add_argument("--messages", type=int, help="messages per connection (2,000)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per server (9)")
    parser.add_argument(
        "--servers",
        default=",".join(SERVER_KINDS),
        help=f"comma-separated, from {', '.join(SERVER_KINDS)} (default: both)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="bound on one client run, in seconds"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="let servers and client run on any core"
    )
    parser.add_argument(
        "--variants",
        default="bare,guarded",
        help=f"comma-separated, from {', '.join(PATHS)}; bare and guarded are always measured",
    )
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    add_docs_options(parser)
    args = parser.parse_args(argv)
    if args.from_json is not None:
        report = read_report(args.from_json, "end_to_end")
        print_report(report)
        finish("end_to_end", report, markdown_blocks(report), None, args.markdown, from_json=True)
        return
    chosen = {name.strip() for name in args.variants.split(",") if name.strip()}
    if chosen - set(PATHS):
        parser.error(f"unknown variants {sorted(chosen - set(PATHS))}; choose from {list(PATHS)}")
    variants = tuple(name for name in PATHS if name in chosen | {"bare", "guarded"})
    kinds = [kind.strip() for kind in args.servers.split(",") if kind.strip()]
    unknown = sorted(set(kinds) - set(SERVER_KINDS))
    if unknown or not kinds:
        parser.error(f"unknown servers {unknown}; choose from {', '.join(SERVER_KINDS)}")
    clients = args.clients or (2 if args.small else 50)
    messages = args.messages or (20 if args.small else 2_000)
    rounds = args.rounds or (1 if args.small else 9)
    started = start_run(command_line(prog, argv))
    report = run(
        kinds, clients, messages, rounds, args.timeout, pin=not args.no_pin, variants=variants
    )
    report = measured(report, started)
    print_report(report)
    finish("end_to_end", report, markdown_blocks(report), args.json, args.markdown, from_json=False)


if __name__ == "__main__":
    main()
