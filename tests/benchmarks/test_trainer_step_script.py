"""The benchmark script runs end to end (no timing is asserted: speed lives in `make bench`)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "trainer_step.py"


def test_benchmark_script_prints_a_row_per_model():
    out = subprocess.run([sys.executable, str(SCRIPT), "--iters", "1", "--width", "0.125"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for model in ("alphagan", "dcgan", "wgangp", "age"):
        assert f"| {model} |" in out.stdout


@pytest.mark.slow
def test_orchestration_benchmark_measures_a_real_sweep():
    sys.path.insert(0, str(SCRIPT.parent))
    import orchestration

    result = orchestration.measure(2, reuse_modes=(True,))
    run = result["reuse"]
    assert len(run["spans"]) == 2 and all(end > start for start, end in run["spans"])
    assert run["spans"][1][0] >= run["spans"][0][1] - 0.5          # one trial at a time
    assert run["trials_s"] > 0 and run["ray_start_s"] > 0 and result["in_process_typical_s"] > 0
    assert run["gap_per_trial_s"] >= 0


def test_fused_benchmark_prints_a_row_per_trial_count():
    out = subprocess.run([sys.executable, str(SCRIPT.parent / "fused_trials.py"), "--trials", "1", "2",
                          "--iters", "1", "--width", "0.125"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2 and all(float(row.split("|")[4].strip().rstrip("x")) > 0 for row in rows)
