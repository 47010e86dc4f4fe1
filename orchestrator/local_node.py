"""Whether a Ray node runs on this machine: `ray.init("HOST:6379")` joins a cluster through the
machine's own node and, without one, waits for it for minutes instead of failing."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def local_addresses() -> set[str] | None:
    """IPv4 addresses of this machine's interfaces (in this network namespace); None where
    /proc/net/fib_trie does not exist (not Linux): then nothing can be said."""
    try:
        lines = (PROC / "net" / "fib_trie").read_text().splitlines()
    except OSError:
        return None
    return {lines[i - 1].split()[-1] for i, line in enumerate(lines) if "/32 host LOCAL" in line and i > 0}


def raylet_addresses() -> set[str]:
    """The node addresses of the raylets running on this machine."""
    found = set()
    for proc in PROC.iterdir():
        if not proc.name.isdigit():
            continue
        try:
            words = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if words and words[0].endswith("raylet"):
            found.update(w.split("=", 1)[1] for w in words if w.startswith("--node_ip_address="))
    return found


def runs_a_ray_node() -> bool:
    addresses = local_addresses()
    return addresses is None or bool(raylet_addresses() & addresses)
