"""``python -m demo_app [--host 127.0.0.1] [--port 8000] [--ws auto|websockets|...]``: serve the
demo under uvicorn."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["WS_IMPLEMENTATIONS", "main", "parse_args"]

#: uvicorn's ``--ws`` choices that speak WebSocket ("none" would turn the demo off).
WS_IMPLEMENTATIONS: tuple[str, ...] = ("auto", "websockets", "websockets-sansio", "wsproto")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line: host, port and uvicorn's WebSocket implementation."""
    parser = argparse.ArgumentParser(
        prog="python -m demo_app",
        description=(
            "Serve the asgi-closeguard demo: the same WebSocket handlers raw and behind "
            "CloseGuardMiddleware, and every close code explained."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--ws",
        choices=WS_IMPLEMENTATIONS,
        default="auto",
        help="uvicorn's WebSocket implementation (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run uvicorn with the demo app until interrupted."""
    args = parse_args(argv)
    import uvicorn

    print(f"asgi-closeguard demo: http://{args.host}:{args.port}/  (uvicorn --ws {args.ws})")
    uvicorn.run("demo_app.app:app", host=args.host, port=args.port, ws=args.ws)


if __name__ == "__main__":
    main()
