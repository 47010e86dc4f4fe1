"""Where the benchmark scripts are, and how a test runs or imports one."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script: str, *args: str, timeout: int = 600, returncode: int = 0,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python benchmarks/<script> args...``; fails the test with the script's stderr unless it exits
    with ``returncode``."""
    out = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert out.returncode == returncode, out.stderr[-3000:]
    return out


def table_rows(text: str) -> dict[str, list[str]]:
    """A markdown table's rows (the header's too): first cell -> the other cells."""
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.split("|")[1:-1]]
                                              for line in text.splitlines() if line.startswith("| "))}


def load(module: str):
    """A benchmark module, imported as the scripts import each other (benchmarks/ on sys.path)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(module)
