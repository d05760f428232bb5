"""The end-to-end benchmark's client, run as a process of its own.

``python -m benchmarks._client ws://127.0.0.1:PORT/echo --clients 50 --messages 2000`` opens
``--clients`` connections, waits until all are open, then each sends ``--messages`` text
messages one after the other, waiting for every echo before the next. The clock runs from the
moment all connections are open until the last echo arrived; handshakes and closes are outside
it. Prints one line of JSON: ``{"messages": ..., "seconds": ..., "per_second": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from websockets.asyncio.client import ClientConnection, connect

#: 32 bytes of text: small enough that the cost per message, not per byte, is what is measured.
PAYLOAD = "closeguard-echo-benchmark-0123456"[:32]


async def _echo_many(websocket: ClientConnection, messages: int, start: asyncio.Event) -> None:
    await start.wait()
    for _ in range(messages):
        await websocket.send(PAYLOAD)
        reply = await websocket.recv()
        if reply != PAYLOAD:
            raise RuntimeError(f"the server echoed {reply!r}, not {PAYLOAD!r}")


async def _measure(url: str, clients: int, messages: int) -> float:
    # No compression (zlib's cost is not the guard's), no proxy, no keep-alive pings.
    connections = await asyncio.gather(
        *(connect(url, compression=None, proxy=None, ping_interval=None) for _ in range(clients))
    )
    try:
        start = asyncio.Event()
        tasks = [
            asyncio.create_task(_echo_many(websocket, messages, start)) for websocket in connections
        ]
        await asyncio.sleep(0)  # every task is now waiting on `start`
        started = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        return time.perf_counter() - started
    finally:
        await asyncio.gather(*(websocket.close() for websocket in connections))


def measure(url: str, clients: int, messages: int, timeout: float) -> dict[str, float]:
    """Open ``clients`` connections to ``url``, echo ``messages`` on each, time the echoes.

    The whole run, handshakes and closes included, is bounded by ``timeout`` seconds.
    """
    seconds = asyncio.run(asyncio.wait_for(_measure(url, clients, messages), timeout))
    total = clients * messages
    return {"messages": total, "seconds": seconds, "per_second": total / seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._client")
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--timeout", type=float, default=300.0, help="bound on the whole run (s)")
    parser.add_argument("--cpu", type=int, help="run on this core only")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    result = measure(args.url, args.clients, args.messages, args.timeout)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
