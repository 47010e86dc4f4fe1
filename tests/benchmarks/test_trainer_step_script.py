"""The benchmark script runs end to end (no timing is asserted: speed lives in `make bench`)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "trainer_step.py"


def test_benchmark_script_prints_a_row_per_model():
    out = subprocess.run([sys.executable, str(SCRIPT), "--iters", "1", "--width", "0.125", "--no-write"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for model in ("alphagan", "dcgan", "wgangp", "age"):
        assert f"| {model} |" in out.stdout
