"""Measure the browser close races described in ``docs/servers.md`` (not part of CI).

    python -m tests.servers.race                   # granian and hypercorn, 40 closes each
    python -m tests.servers.race --tries 100 daphne

For each server, Chromium opens ``--tries`` connections to an endpoint that closes with 4000
and a reason and returns at once, with 0, 1 or 5 messages sent by the page as soon as the
socket opens (so they are in flight while the server closes), raw and guarded, and prints how
often each ``(CloseEvent.code, wasClean)`` came back. A 1006 means Chromium lost the close frame.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter

from tests.support.browser import async_chromium, async_websocket_close_event
from tests.support.servers import SERVER_KINDS, Server, run_servers

_PATH = "close?code=4000&reason=why&then=return"
_IN_FLIGHT = {0: (), 1: ("a",), 5: ("a" * 100,) * 5}


async def _measure(servers: dict[str, Server], tries: int) -> None:
    async with async_chromium() as browser:
        page = await browser.new_page()
        for kind, server in servers.items():
            await page.goto(server.http_url("/"))
            for side in ("raw", "guarded"):
                for count, messages in _IN_FLIGHT.items():
                    seen: Counter[tuple[object, object]] = Counter()
                    for _ in range(tries):
                        event = await async_websocket_close_event(
                            page, server.ws_url(f"/{side}/{_PATH}"), messages=messages
                        )
                        seen[(event.get("code"), event.get("wasClean"))] += 1
                    shown = ", ".join(
                        f"{code} clean={clean}: {n}" for (code, clean), n in sorted(seen.items())
                    )
                    print(f"{kind:26} {side:8} {count} in flight  {shown}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m tests.servers.race", description=__doc__)
    parser.add_argument("kinds", nargs="*", help=f"any of {', '.join(SERVER_KINDS)}")
    parser.add_argument("--tries", type=int, default=40)
    args = parser.parse_args(argv)
    args.kinds = args.kinds or ["granian", "hypercorn"]
    unknown = sorted(set(args.kinds) - set(SERVER_KINDS))
    if unknown:
        parser.error(f"unknown server kinds {unknown}; choose from {', '.join(SERVER_KINDS)}")
    with run_servers(args.kinds, "tests.servers.apps:app", ready_path="/health") as started:
        servers = {kind: server for kind, server in started.items() if isinstance(server, Server)}
        for kind, error in started.items():
            if not isinstance(error, Server):
                print(f"{kind} did not start: {error}")
        asyncio.run(_measure(servers, args.tries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
