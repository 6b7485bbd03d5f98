"""A test client of the Quattrocento simulator: connect, and read whole frames."""

from __future__ import annotations

import socket

import numpy as np


def connect(sim) -> socket.socket:
    s = socket.create_connection((sim.host, sim.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_frames(s: socket.socket, channels: int, count: int) -> np.ndarray:
    """`count` frames, or a socket.timeout if they do not come within the socket's timeout."""
    need, buf = count * 2 * channels, bytearray()
    while len(buf) < need:
        chunk = s.recv(need - len(buf))
        if not chunk:
            break
        buf.extend(chunk)
    return np.frombuffer(bytes(buf[:len(buf) // (2 * channels) * 2 * channels]), "<i2").reshape(-1, channels)
