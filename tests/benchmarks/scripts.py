"""Where the benchmark scripts are, and how a test runs or imports one."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python benchmarks/<script> args...``; fails the test with the script's stderr unless it exits 0."""
    out = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def load(module: str):
    """A benchmark module, imported as the scripts import each other (benchmarks/ on sys.path)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(module)
