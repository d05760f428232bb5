"""``python -m asgi_closeguard``: the same command as ``asgi-closeguard``."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
