"""Ports for the servers a test starts (PostgreSQL, MLflow, Ray's head, the MLflow UI).

A port found free by binding port 0 is taken from the kernel's ephemeral range, the range every
outgoing connection's local port also comes from: between the test picking it and its server
binding it, one of the many connections of the servers started meanwhile (MLflow to PostgreSQL, a
health check, Ray's own components) can be given the same port, and the server then fails with
"address already in use" (seen once: Ray's GCS on its --port). So a test's port comes from below
the ephemeral range and above Ray's worker ports (10002-19999), where no outgoing connection and
no Ray component lands, and is checked free by binding it."""

from __future__ import annotations

import random
import socket
from pathlib import Path

RAY_WORKER_PORTS_END = 20_000             # Ray's default --max-worker-port is 19999
_given: set[int] = set()                  # never hand out the same port twice in one test process


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections (Linux's default: 32768-60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port free on 127.0.0.1 now, outside the ephemeral range and Ray's worker ports."""
    low, _ = ephemeral_range()
    candidates = list(range(RAY_WORKER_PORTS_END, low))
    random.shuffle(candidates)
    for port in candidates[:2000]:
        if port not in _given and is_free(port):
            _given.add(port)
            return port
    with socket.socket() as sock:                 # no room below the ephemeral range on this machine
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
