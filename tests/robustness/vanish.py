"""A client that vanishes: a raw socket that upgrades to WebSocket, then resets the connection.

``SO_LINGER`` with a zero timeout makes ``close()`` send a TCP RST instead of a FIN: the server
sees the peer disappear with no close frame and no orderly shutdown, the way a crashed browser
tab or a dropped mobile link looks.
"""

from __future__ import annotations

import base64
import os
import socket
import struct

__all__ = ["open_raw_websocket", "reset"]

_HANDSHAKE = (
    "GET {path} HTTP/1.1\r\n"
    "Host: {host}:{port}\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n"
)


def open_raw_websocket(host: str, port: int, path: str, timeout: float = 5.0) -> socket.socket:
    """Connect and complete the opening handshake; fail unless the server answers 101."""
    sock = socket.create_connection((host, port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(_HANDSHAKE.format(path=path, host=host, port=port, key=key).encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"the server closed during the handshake: {response!r}")
        response += chunk
    status_line = response.split(b"\r\n", 1)[0]
    if b" 101 " not in status_line:
        sock.close()
        raise ConnectionError(f"handshake refused: {status_line!r}")
    return sock


def half_a_text_frame(size: int = 100) -> bytes:
    """The first half of a masked text frame that announces ``size`` bytes (``size`` < 126)."""
    mask = os.urandom(4)
    payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(b"x" * size))
    frame = bytes([0x81, 0x80 | size]) + mask + payload
    return frame[: len(frame) // 2]


def reset(sock: socket.socket) -> None:
    """Close with a TCP RST: ``SO_LINGER`` on, zero seconds."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
