"""Free loopback TCP ports."""

from __future__ import annotations

import socket


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free (vpcd listens on both)."""
    for _ in range(200):
        p = free_port()
        if p < 65535 and _free(p) and _free(p + 1):
            return p
    raise RuntimeError("no free pair of TCP ports")
