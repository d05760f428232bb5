"""The guard's memory per open connection, its allocations per message, and its import time.

Run from the repository root::

    python -m benchmarks.memory_import             # 2,000 connections, 20,000 messages, 15 imports
    python -m benchmarks.memory_import --small     # the smoke run
    python -m benchmarks.memory_import --markdown  # and rewrite the figures of the docs

Three measurements:

``memory per connection``
    ``--connections`` connections of the echo app are opened on an in-memory server and left
    waiting for the client's next message; tracemalloc gives the bytes they hold: bare, behind
    the floor middleware, behind the guard with default options and with an ``on_close`` set
    (which counts messages for the record). The difference to bare, per connection, is what the
    middleware keeps for one open connection.
``allocations per message``
    tracemalloc over the hot loop of one connection: the traced memory is read after
    ``--messages`` messages (the warm-up), after twice and after three times as many; the growth
    between the last two readings, per message, must be zero (a pass-through message leaves
    nothing behind).
``import time``
    ``python -X importtime -c "import asgi_closeguard"`` in fresh interpreters: the median
    cumulative time of ``asgi_closeguard``, cold (nothing imported before) and in a process that
    already imported uvicorn and Starlette (what a server process pays); the same imports timed
    in CPU time (``time.process_time``, without ``-X importtime``); where the time goes; and the
    list of modules the import brings in, which must hold no framework. Bytecode is cached (in
    a directory of its own under the system's temporary directory), as for an installed package.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from array import array
from collections.abc import Coroutine, Generator
from pathlib import Path
from typing import Any

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard._types import ASGIApp, Message

from ._common import (
    add_docs_options,
    command_line,
    describe_machine,
    echo_app,
    finish,
    machine,
    measured,
    median,
    read_report,
    start_run,
    table,
)
from ._markdown import header, measured_at, short_header
from .inprocess import (
    CONNECT,
    DISCONNECT,
    TEXT,
    FloorMiddleware,
    as_coroutine,
    drive,
    new_scope,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The libraries whose versions a report's header names.
PACKAGES = ("uvicorn", "starlette")

#: Issue 7's target: importing asgi_closeguard takes under 10 ms.
TARGET_IMPORT_MS = 10.0
#: Issue 21's target: with default options, the guard keeps at most 1.5 KB per open connection
#: over the bare app.
TARGET_GUARD_BYTES_PER_CONNECTION = 1_500

#: Modules that must never be imported by ``import asgi_closeguard``: it is a pure ASGI
#: middleware that depends on no framework, no server and no event loop.
FRAMEWORKS = (
    "starlette",
    "fastapi",
    "uvicorn",
    "anyio",
    "trio",
    "asyncio",
    "hypercorn",
    "daphne",
    "granian",
    "websockets",
    "wsproto",
    "sniffio",
)

#: What a server process has imported before the app (and so the guard) is loaded.
SERVER_PRELUDE = "import uvicorn, uvicorn.main, starlette.applications, starlette.websockets"


class _Suspend:
    """An awaitable that suspends the coroutine awaiting it once: a client that is silent."""

    def __await__(self) -> Generator[None, None, None]:
        yield


def _guard_with_on_close(app: ASGIApp) -> ASGIApp:
    return CloseGuardMiddleware(app, on_close=lambda record: None)


VARIANTS: dict[str, Any] = {
    "bare": lambda app: app,
    "floor": FloorMiddleware,
    "guard": CloseGuardMiddleware,
    "guard-on-close": _guard_with_on_close,
}


# --- memory per open connection -------------------------------------------------------------


def _open_connection(app: ASGIApp) -> Coroutine[Any, Any, None]:
    """Start one connection that connects, echoes one message, then waits for the next."""
    script = iter((CONNECT, TEXT))

    async def receive() -> Message:
        for message in script:
            return message
        await _Suspend()  # the client is silent: the app waits here, the connection open
        return DISCONNECT  # pragma: no cover - the benchmark closes the coroutine first

    async def send(message: Message) -> None:
        return None

    coro = as_coroutine(app(new_scope(), receive, send))
    coro.send(None)  # runs to the first suspension: accepted, one echo, waiting
    return coro


def bytes_per_connection(app: ASGIApp, connections: int) -> float:
    """Bytes held per open connection of ``app`` (its harness included), by tracemalloc."""
    for coro in [_open_connection(app) for _ in range(10)]:  # warm-up
        coro.close()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [_open_connection(app) for _ in range(connections)]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    for coro in held:
        coro.close()  # GeneratorExit in the app: what a server's shutdown does
    return (after - before) / connections


# --- allocations per message ----------------------------------------------------------------


def hot_loop_allocations(app: ASGIApp, messages: int) -> dict[str, float]:
    """Traced memory along one long connection through ``app``.

    Readings are taken inside the server's ``receive`` (always at the same depth of the call
    stack) at message ``messages`` (the end of the warm-up), ``2 x messages`` and
    ``3 x messages``. Returns the growth between the last two readings, in bytes and per
    message. The readings go into a preallocated array, so that taking them keeps nothing alive.
    """
    readings = array("q", [0, 0, 0])
    reading_at = {messages: 0, 2 * messages: 1, 3 * messages: 2}
    last = 3 * messages
    index = 0

    async def receive() -> Message:
        nonlocal index
        index += 1
        if index == 1:
            return CONNECT
        if index > last:
            return DISCONNECT
        slot = reading_at.get(index)
        if slot is not None:
            readings[slot] = tracemalloc.get_traced_memory()[0]
        return TEXT

    async def send(message: Message) -> None:
        return None

    gc.collect()
    tracemalloc.start()
    try:
        drive(as_coroutine(app(new_scope(), receive, send)))
    finally:
        tracemalloc.stop()
    growth = readings[2] - readings[1]
    return {
        "warm_up_growth_bytes": readings[1] - readings[0],
        "growth_bytes": growth,
        "growth_bytes_per_message": growth / messages,
    }


# --- import time ----------------------------------------------------------------------------


#: Compiled bytecode for the timed interpreters, kept outside the source tree. An installed
#: package is imported from cached bytecode; with PYTHONDONTWRITEBYTECODE set (as in many CI
#: and container setups) every import would compile the sources again and time the compiler.
_BYTECODE_CACHE = Path(tempfile.gettempdir()) / "asgi-closeguard-benchmark-pycache"


def _python(code: str, *options: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PYTHONPYCACHEPREFIX"] = str(_BYTECODE_CACHE)
    return subprocess.run(
        [sys.executable, *options, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def import_tree(prelude: str = "") -> list[dict[str, Any]]:
    """What ``python -X importtime`` reports for ``import asgi_closeguard`` in a fresh
    interpreter (``prelude`` runs first): one entry per module, in the order printed (children
    before their parent), the package itself last, with ``depth`` 0."""
    code = f"{prelude}\nimport asgi_closeguard" if prelude else "import asgi_closeguard"
    stderr = _python(code, "-X", "importtime").stderr
    entries: list[dict[str, Any]] = []
    for line in stderr.splitlines():
        # "import time: {self us:>9} | {cumulative us:>10} | {'  ' * depth}{module}"
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        entries.append(
            {
                "module": name.strip(),
                "depth": depth,
                "self_ms": int(parts[0]) / 1000,
                "cumulative_ms": int(parts[1]) / 1000,
            }
        )
        if depth == 0:
            if name.strip() == "asgi_closeguard":
                return entries
            entries = []  # a top-level import of the prelude: not ours
    if prelude:
        return []  # the prelude imported asgi_closeguard already (it should not)
    raise RuntimeError(f"no import time for asgi_closeguard in:\n{stderr}")


def import_time_ms(prelude: str = "") -> float:
    """Cumulative import time of ``asgi_closeguard`` in a fresh interpreter, in milliseconds,
    as ``python -X importtime`` reports it; ``prelude`` runs (and imports) first."""
    tree = import_tree(prelude)
    return float(tree[-1]["cumulative_ms"]) if tree else 0.0


def import_cpu_ms(prelude: str = "") -> float:
    """CPU time (``time.process_time``) that ``import asgi_closeguard`` takes in a fresh
    interpreter, in milliseconds, without ``-X importtime``: unlike the wall clock, it does not
    count moments when other processes had the core."""
    code = (
        f"{prelude}\n"
        "import time\n"
        "started = time.process_time()\n"
        "import asgi_closeguard\n"
        "print(1000 * (time.process_time() - started))"
    )
    return float(_python(code).stdout.strip())


def modules_imported() -> list[str]:
    """The modules that ``import asgi_closeguard`` adds to a fresh interpreter."""
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import asgi_closeguard\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    modules: list[str] = json.loads(_python(code).stdout)
    return modules


def frameworks_among(modules: list[str]) -> list[str]:
    """The framework, server and event-loop modules among ``modules``."""
    return [
        module
        for module in modules
        if any(module == name or module.startswith(name + ".") for name in FRAMEWORKS)
    ]


# --- the report -----------------------------------------------------------------------------


def run(connections: int, messages: int, imports: int) -> dict[str, Any]:
    """Every measurement; the report as a dict."""
    apps = {name: build(echo_app) for name, build in VARIANTS.items()}
    memory = {name: bytes_per_connection(app, connections) for name, app in apps.items()}
    allocations = {name: hot_loop_allocations(app, messages) for name, app in apps.items()}
    import_time_ms("")  # warm-up: compiles the bytecode once, fills the OS's file cache
    import_time_ms(SERVER_PRELUDE)
    cold = [import_time_ms("") for _ in range(imports)]
    in_server = [import_time_ms(SERVER_PRELUDE) for _ in range(imports)]
    cold_cpu = [import_cpu_ms("") for _ in range(imports)]
    in_server_cpu = [import_cpu_ms(SERVER_PRELUDE) for _ in range(imports)]
    # Where the time goes: the package's own modules and what each imports first.
    breakdown = [entry for entry in import_tree("") if entry["depth"] <= 2]
    in_server_breakdown = [entry for entry in import_tree(SERVER_PRELUDE) if entry["depth"] <= 2]
    modules = modules_imported()
    frameworks = frameworks_among(modules)
    guard_bytes = memory["guard"] - memory["bare"]
    growth = max(allocations[name]["growth_bytes"] for name in ("guard", "guard-on-close"))
    return {
        "benchmark": "memory_import",
        "machine": machine(),
        "connections": connections,
        "messages": messages,
        "imports": imports,
        "bytes_per_connection": memory,
        "guard_bytes_per_connection": guard_bytes,
        "guard_on_close_bytes_per_connection": memory["guard-on-close"] - memory["bare"],
        "hot_loop": allocations,
        "import_ms": {
            "cold": {"median": median(cold), "runs": cold},
            "in_server_process": {"median": median(in_server), "runs": in_server},
            "cold_cpu": {"median": median(cold_cpu), "runs": cold_cpu},
            "in_server_process_cpu": {"median": median(in_server_cpu), "runs": in_server_cpu},
            "cold_breakdown": breakdown,
            "in_server_process_breakdown": in_server_breakdown,
        },
        "modules_imported": modules,
        "frameworks_imported": frameworks,
        "targets": {
            "guard_at_most_1500_bytes_per_connection": (
                guard_bytes <= TARGET_GUARD_BYTES_PER_CONNECTION
            ),
            # A message that left anything behind would grow memory by >= 1 block per message.
            "no_allocation_per_message": growth < messages,
            # Met only if met on both clocks.
            "import_under_10ms": max(median(cold), median(cold_cpu)) < TARGET_IMPORT_MS,
            "import_under_10ms_in_server_process": (
                max(median(in_server), median(in_server_cpu)) < TARGET_IMPORT_MS
            ),
            "no_framework_imported": not frameworks,
        },
    }


def render_memory(report: dict[str, Any]) -> str:
    """Memory per open connection and the hot loop's growth: the docs' memory section."""
    memory = report["bytes_per_connection"]
    first, second, third = (n * report["messages"] for n in (1, 2, 3))
    return "\n".join(
        [
            header(report, PACKAGES),
            "",
            f"Memory per open connection ({report['connections']:,} connections held open):",
            "",
            table(
                ("variant", "bytes per open connection", "over bare"),
                [
                    (name, f"{value:,.0f}", f"{value - memory['bare']:+,.0f}")
                    for name, value in memory.items()
                ],
            ),
            "",
            f"Hot loop (traced memory after {first:,}, {second:,} and {third:,} messages):",
            "",
            table(
                (
                    "variant",
                    f"growth {first:,} to {second:,} (bytes)",
                    f"growth {second:,} to {third:,} (bytes)",
                    "per message",
                ),
                [
                    (
                        name,
                        f"{figures['warm_up_growth_bytes']:,}",
                        f"{figures['growth_bytes']:,}",
                        f"{figures['growth_bytes_per_message']:.3f}",
                    )
                    for name, figures in report["hot_loop"].items()
                ],
            ),
        ]
    )


def render_import(report: dict[str, Any]) -> str:
    """Import time, where it goes, and the modules imported: the docs' import section."""
    import_ms = report["import_ms"]
    lines = [
        header(report, PACKAGES),
        "",
        f"{report['imports']} fresh interpreters each:",
        "",
        table(
            ("import asgi_closeguard", "median ms (-X importtime)", "median CPU ms"),
            [
                (
                    "cold interpreter",
                    f"{import_ms['cold']['median']:.1f}",
                    f"{import_ms['cold_cpu']['median']:.1f}",
                ),
                (
                    "after uvicorn and Starlette",
                    f"{import_ms['in_server_process']['median']:.1f}",
                    f"{import_ms['in_server_process_cpu']['median']:.1f}",
                ),
            ],
        ),
    ]
    for title, key in (
        ("a cold import", "cold_breakdown"),
        ("an import after uvicorn and Starlette", "in_server_process_breakdown"),
    ):
        lines += [
            "",
            f"Where {title} spends its time (one run; a module's imports are listed above it):",
            "",
            table(
                ("module", "cumulative ms", "self ms"),
                [
                    (
                        "· " * entry["depth"] + entry["module"],
                        f"{entry['cumulative_ms']:.1f}",
                        f"{entry['self_ms']:.1f}",
                    )
                    for entry in import_ms[key]
                ],
            ),
        ]
    frameworks = report["frameworks_imported"]
    lines += [
        "",
        f"Modules imported: {len(report['modules_imported'])}; frameworks among them: "
        f"{', '.join(frameworks) if frameworks else 'none'}.",
    ]
    return "\n".join(lines)


def render_targets(report: dict[str, Any]) -> str:
    """Every target of this benchmark, met or not, with the figure measured."""
    memory, import_ms, met = report["bytes_per_connection"], report["import_ms"], report["targets"]
    growth = max(figures["growth_bytes_per_message"] for figures in report["hot_loop"].values())

    def verdict(key: str) -> str:
        return "met" if met[key] else "NOT met"

    def both_clocks(key: str) -> str:
        return f"{import_ms[key]['median']:.1f} ms (CPU: {import_ms[key + '_cpu']['median']:.1f})"

    rows = [
        (
            f"memory per open connection, guard over bare <= "
            f"{TARGET_GUARD_BYTES_PER_CONNECTION:,} bytes (#21; default options)",
            f"{report['guard_bytes_per_connection']:+,.0f} bytes",
            verdict("guard_at_most_1500_bytes_per_connection"),
        ),
        (
            "the same with `on_close` set (no target)",
            f"{memory['guard-on-close'] - memory['bare']:+,.0f} bytes",
            "",
        ),
        (
            "no allocation per pass-through message (#7)",
            f"{growth:.3f} bytes per message",
            verdict("no_allocation_per_message"),
        ),
        (
            f"import under {TARGET_IMPORT_MS:.0f} ms in a server process (#7)",
            both_clocks("in_server_process"),
            verdict("import_under_10ms_in_server_process"),
        ),
        (
            f"import under {TARGET_IMPORT_MS:.0f} ms in a cold interpreter (#7)",
            both_clocks("cold"),
            verdict("import_under_10ms"),
        ),
        (
            "imports no framework (#7)",
            ", ".join(report["frameworks_imported"]) or "none",
            verdict("no_framework_imported"),
        ),
    ]
    return "\n".join([short_header(report), "", table(("target", "measured", ""), rows)])


def render_readme(report: dict[str, Any]) -> str:
    """One line for the README: memory per connection and import time in a server process."""
    met = report["targets"]
    in_server = report["import_ms"]["in_server_process"]["median"]
    kept = max(figures["growth_bytes_per_message"] for figures in report["hot_loop"].values())
    allocation = (
        "no allocation per message"
        if met["no_allocation_per_message"]
        else f"{kept:.3f} bytes kept per message"
    )
    return (
        f"{report['guard_bytes_per_connection']:,.0f} bytes per open connection over the bare app "
        f"(target: at most {TARGET_GUARD_BYTES_PER_CONNECTION:,}, "
        f"{'met' if met['guard_at_most_1500_bytes_per_connection'] else 'not met'}), "
        f"{allocation}, {in_server:.1f} ms to import in a server process ({measured_at(report)})"
    )


def markdown_blocks(report: dict[str, Any]) -> dict[str, str]:
    """The blocks of the docs this report renders, by name (see ``benchmarks/_markdown.py``)."""
    return {
        "benchmarks.memory_import.memory": render_memory(report),
        "benchmarks.memory_import.import": render_import(report),
        "benchmarks.memory_import.targets": render_targets(report),
        "benchmarks.memory_import.readme": render_readme(report),
    }


def print_report(report: dict[str, Any]) -> None:
    """The report as Markdown: the blocks of the docs, as they are written there."""
    blocks = markdown_blocks(report)
    print(f"# Memory and import time (machine: {describe_machine(report['machine'])})")
    for name in ("memory", "import", "targets"):
        print()
        print(blocks[f"benchmarks.memory_import.{name}"])


def main(argv: list[str] | None = None) -> None:
    prog = "python -m benchmarks.memory_import"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="tiny numbers: the smoke run")
    parser.add_argument("--connections", type=int, help="connections held open (2,000)")
    parser.add_argument("--messages", type=int, help="messages in the hot loop (20,000)")
    parser.add_argument("--imports", type=int, help="fresh interpreters timed (15)")
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    add_docs_options(parser)
    args = parser.parse_args(argv)
    if args.from_json is not None:
        report = read_report(args.from_json, "memory_import")
    else:
        connections = args.connections or (50 if args.small else 2_000)
        messages = args.messages or (500 if args.small else 20_000)
        imports = args.imports or (2 if args.small else 15)
        started = start_run(command_line(prog, argv))
        report = measured(run(connections, messages, imports), started)
    print_report(report)
    finish(
        "memory_import",
        report,
        markdown_blocks(report),
        args.json,
        args.markdown,
        from_json=args.from_json is not None,
    )


if __name__ == "__main__":
    main()
