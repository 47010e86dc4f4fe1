"""The machine's free memory, and byte counts in words ("1.4 PiB"), for checks made before a
large allocation and for the messages of the ones that fail."""

from __future__ import annotations

from pathlib import Path

UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def in_binary_units(count: float) -> str:
    size, units = float(count), UNITS
    while size >= 1024 and len(units) > 1:
        size, units = size / 1024, units[1:]
    return f"{int(size)} bytes" if units[0] == "bytes" else f"{size:.1f} {units[0]}"


def available_bytes(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """Memory the machine can give without swapping (Linux's MemAvailable); None where unknown."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
