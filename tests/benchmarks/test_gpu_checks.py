"""The GPU checks (`make bench-gpu`, benchmarks/gpu_sweep.sh, benchmarks/gpu_compare.sh and the
grid costs) run here on the CPU, at a small scale, so that they work the day a GPU is lent: each
writes its figures where the docs say."""

import json
import os
import subprocess
import sys

import pytest

from .scripts import BENCHMARKS, load, run, table_rows


@pytest.mark.slow
def test_gpu_benchmark_runs_every_packing_on_any_device(tmp_path):
    """benchmarks/gpu.py on the CPU (where CUDA-graph rows are left out): one row per way of
    packing trials, each with a positive throughput, and the table written to --out."""
    out_file = tmp_path / "gpu.md"
    run("gpu.py", "--device", "cpu", "--width", "0.125", "--iters", "1", "--trials", "2", "--processes", "2",
        "--models", "--out", str(out_file))
    table = out_file.read_text()
    rows = table_rows(table)
    for what in ("1 α-GAN trial, fp32 (the baseline: one trial per GPU)", "1 α-GAN trial, bf16",
                 "2 trials fused into one model, fp32", "2 trials fused into one model, bf16",
                 "2 one-trial processes sharing the device (fractional GPUs), fp32"):
        assert float(rows[what][0]) > 0, what
    assert not any("CUDA graphs" in what for what in rows)
    tflops = [cells[2].split()[0] for what, cells in rows.items() if "α-GAN trial, fp32" in what]
    assert float(tflops[0]) > 0 and "GFLOP" in table                    # the share-of-peak column


@pytest.mark.slow
def test_grid_rates_feed_the_grid_cost_estimate(tmp_path):
    """--grid-rates N measures N one-trial processes of each model (here on ColorMNIST's networks,
    on the CPU) into rates.json, from which grid_cost.py prices each shipped paper grid."""
    run("gpu.py", "--device", "cpu", "--width", "0.125", "--iters", "1", "--trials", "--processes", "--models",
        "--no-one-trial", "--grid-rates", "1", "--grid-variant", "fp32", "--grid-datasets", "colormnist",
        "--out", str(tmp_path / "g.md"))
    written = (tmp_path / "g.md").read_text()
    assert "α-GAN trial" not in written                                   # --no-one-trial: grid rows only
    assert "| what |" not in written and "GFLOP" in written               # no empty table, the FLOP line kept
    record = json.loads((tmp_path / "rates.json").read_text())
    assert set(record["rates"]["colormnist"]) == {"alphagan", "dcgan", "wgangp", "age"}
    assert all(rate > 0 for rate in record["rates"]["colormnist"].values())
    cost = run("grid_cost.py", "--rates", str(tmp_path / "rates.json"), timeout=120)
    assert "| colormnist alphagan | 96 x 100,000 |" in cost.stdout


def test_grid_cost_counts_waves_of_the_packed_trials(tmp_path):
    """8 trials per GPU at 800 trial-it/s: 100 it/s each. The ColorMNIST α-GAN grid (96 trials of
    100,000 iterations) is 12 waves of 1,000 s on one GPU (3.3 h) and 2 waves on 8 (0.6 h); DCGAN's
    27 trials are 4 waves on one GPU and 1 on 8."""
    rates = dict(card="a test", torch="-", processes=8, variant="CUDA graphs", iterations=1,
                 rates={"colormnist": {"alphagan": 800.0, "dcgan": 800.0}})
    (tmp_path / "rates.json").write_text(json.dumps(rates))
    run("grid_cost.py", "--rates", str(tmp_path / "rates.json"), "--out", str(tmp_path / "cost.md"), timeout=120)
    rows = table_rows((tmp_path / "cost.md").read_text())
    assert rows["colormnist alphagan"] == ["96 x 100,000", "800", "3.3", "3.3 h", "0.6 h"]
    assert rows["colormnist dcgan"] == ["27 x 100,000", "800", "0.9", "1.1 h", "0.3 h"]


@pytest.mark.slow
def test_the_whole_sweep_check_runs_a_sweep_and_writes_its_figures(tmp_path):
    """benchmarks/gpu_sweep.sh, run here on the smoke spec (no GPU, no nvidia-smi): the sweep runs
    to the end and its figures are written."""
    env = {**os.environ, "OUT": str(tmp_path / "out"), "SPEC": "search_spaces/smoke.yaml", "PYTHON": sys.executable,
           "STORAGE": str(tmp_path / "storage"), "WHEELHOUSE": str(tmp_path / "none")}
    out = subprocess.run(["sh", str(BENCHMARKS / "gpu_sweep.sh")], env=env, cwd=BENCHMARKS.parent,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    table = (tmp_path / "out" / "gpu-sweep.md").read_text()
    assert "| trials (finished / all) | 4 / 4 |" in table and "| trials with sample grids in MLflow | 4 |" in table


@pytest.mark.slow
def test_the_gpu_comparison_runs_its_sweep_and_report(tmp_path):
    """benchmarks/gpu_compare.sh, run here on the laptop comparison's α-GAN spec cut to 20
    iterations and 2 trials (no GPU): the sweep, the reference metrics, the report, and the sweep's
    time. One sweep, not the script's four: each costs about 40 s here whatever its iterations
    (Ray's start, the workers, the critics, the final evaluation), and a report over several
    sweeps is tested in tests/analysis/test_report.py."""
    import yaml

    from ..orchestrator.sweep_helpers import first_axis_only

    spec = yaml.safe_load((BENCHMARKS.parent / "search_spaces" / "digits_alphagan.yaml").read_text())
    spec["trial"].update(max_iter=20, report_every=10)
    first_axis_only(spec)                                           # 2 trials, one wave
    spec["independent_critic"].update(steps_per_report=5, width=0.125)
    spec["evaluation"] = dict(samples=500, diversity_pairs=100, codes=100)
    path = tmp_path / "alphagan.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "OUT": str(tmp_path / "out"), "SPECS": str(path), "DATASET": "digits",
           "PYTHON": sys.executable, "STORAGE": str(tmp_path / "storage"), "WHEELHOUSE": str(tmp_path / "none")}
    out = subprocess.run(["sh", str(BENCHMARKS / "gpu_compare.sh")], env=env, cwd=BENCHMARKS.parent,
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + (tmp_path / "out" / "compare.log").read_text()[-3000:]
    times = (tmp_path / "out" / "compare-times.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in times] == ["digits_alphagan"]
    assert all(": exit 0 after " in line for line in times)
    analysis = tmp_path / "out" / "analysis"
    quartiles = (analysis / "quartiles.csv").read_text()
    assert "\nalphagan," in quartiles, quartiles[:500]
    for name in ("report.html", "box_plots.png", "samples_alphagan.png", "reconstructions_alphagan.png"):
        assert (analysis / name).stat().st_size > 0, name


def test_gpu_utilisation_is_read_from_nvidia_smis_log(tmp_path):
    from datetime import datetime

    gpu_utilisation = load("sweep_figures").gpu_utilisation
    log = tmp_path / "smi.csv"
    log.write_text("timestamp, utilization.gpu [%], memory.used [MiB]\n"
                   "2026/12/03 07:00:00.000, 10 %, 100 MiB\n2026/12/03 07:00:01.000, 90 %, 900 MiB\n"
                   "2026/12/03 07:00:05.000, 50 %, 900 MiB\n")
    start = datetime(2026, 12, 3, 7, 0, 0, 500000).timestamp()
    assert gpu_utilisation(log, start, start + 2) == [90.0]
