"""This machine's processes, read from /proc, for the tests that kill a Ray node, a trial's worker
or their own servers: found by what they run, what they inherited, their parent or their network
namespace (not `ray stop`: it kills every Ray process on the machine)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path


def processes(match: Callable[[Path], bool]) -> list[int]:
    """PIDs of the processes whose /proc folder ``match`` accepts; one that exits while it is read
    (an OSError) is left out."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if match(proc):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def command_line(proc: Path) -> str:
    """The process's arguments, NUL-separated as /proc has them."""
    return (proc / "cmdline").read_bytes().decode(errors="replace")


def _stat_after_command(proc: Path) -> list[str]:
    """/proc/PID/stat's fields after the command, which may hold spaces and parentheses."""
    return (proc / "stat").read_text().rsplit(")", 1)[1].split()


def parent(proc: Path) -> int:
    """The parent's PID."""
    return int(_stat_after_command(proc)[1])


def state(proc: Path) -> str:
    """The process's state: R running, S sleeping, Z exited but not yet reaped, ..."""
    return _stat_after_command(proc)[0]


def network_namespace(proc: Path) -> str:
    return os.readlink(proc / "ns" / "net")


def kill(pids: Iterable[int]) -> int:
    """SIGKILL each; returns how many were still there to be killed."""
    killed = 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed
