"""The benchmarks `make bench` runs on a CPU run end to end (no timing is asserted: speed lives in
`make bench`, memory in benchmarks/dataset_memory.py)."""

import os

import pytest

from .scripts import BENCHMARKS, load, run, table_rows


def test_benchmark_script_prints_a_row_per_model():
    out = run("trainer_step.py", "--iters", "1", "--width", "0.125")
    for model in ("alphagan", "dcgan", "wgangp", "age"):
        assert f"| {model} |" in out.stdout


def test_overhead_quartiles_bracket_the_median():
    quartiles = load("orchestration").quartiles
    assert quartiles([0.5]) == (0.5, 0.5)
    assert quartiles([-0.2, 0.1, 0.3, 0.4, 2.0]) == (0.1, 0.4)


def test_fused_benchmark_prints_a_row_per_trial_count():
    out = run("fused_trials.py", "--trials", "1", "2", "--iters", "1", "--width", "0.125")
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2 and all(float(row.split("|")[4].strip().rstrip("x")) > 0 for row in rows)


def test_flop_count_of_an_iteration_follows_algorithm_1():
    """torch's flop counter over the trainer's whole step: α-GAN's iteration (encoder, generator,
    two discriminators, six updates) costs more than DCGAN's and AGE's, each positive."""
    iteration_flops = load("flops").iteration_flops
    alphagan, _ = iteration_flops("alphagan", width=0.25)
    dcgan, _ = iteration_flops("dcgan", width=0.25)
    age, _ = iteration_flops("age", width=0.25)
    wgangp, note = iteration_flops("wgangp", width=0.25)
    assert alphagan > age > dcgan > 0 and wgangp > 0 and "lower bound" in note


@pytest.mark.slow
def test_critic_beside_benchmark_compares_both_modes():
    out = run("critic_beside.py", "--rounds", "1", "--iters", "40", "--report-every", "10", "--critic-steps", "2",
              "--width", "0.125", "--critic-width", "0.125")
    assert "| blocking |" in out.stdout and "| beside |" in out.stdout


def test_dataset_memory_benchmark_measures_every_trial_process():
    """Each trial process's memory, summed from /proc: PSS (shared pages split among the processes)
    is never more than RSS; too few images for a batch is refused before anything is written."""
    out = run("dataset_memory.py", "--images", "80", "--trials", "2")
    row = next(cells for first, cells in table_rows(out.stdout).items() if first == str(BENCHMARKS.parent))
    rss, pss, private = (float(cell.split()[0].replace(",", "")) for cell in row)
    assert 0 < private <= pss <= rss
    refused = run("dataset_memory.py", "--images", "79", timeout=60, returncode=2)
    assert "at least 80" in refused.stderr.splitlines()[-1]


@pytest.mark.slow
def test_make_bench_runs_every_part_and_leaves_the_docs_alone_with_no_write(tmp_path):
    """benchmarks/run_all.py (`make bench`) at a small scale: a row per model's step, the fused
    trials, every metric and the orchestration overhead, each a number; --no-write keeps
    docs/benchmarks.md as it is. Its 20-step classifier is thrown away: it became the kept digits
    classifier, and every later sweep's mode counts read it (153 modes of the test set's 1,000)."""
    docs = (BENCHMARKS.parent / "docs" / "benchmarks.md").read_text()
    cache = tmp_path / "cache"
    out = run("run_all.py", "--iters", "1", "--trials", "2", "--fused", "2", "--width", "0.125",
              "--critic-steps", "5", "--classifier-steps", "20", "--no-write", timeout=900,
              env={**os.environ, "ALPHAGAN_CACHE": str(cache)})
    assert not list(cache.glob("classifiers/*.pt"))
    rows = table_rows(out.stdout.split("\non ")[-1])
    for model in ("alphagan", "dcgan", "wgangp", "age"):
        assert float(rows[f"{model} step, it/s (baseline: plain eager)"][0]) > 0
    assert float(rows["2 α-GAN trials fused into one model: trial-it/s (baseline: one trial alone)"][0]) > 0
    labels = load("run_all").METRIC_LABELS
    for name in labels:
        label = labels[name].format(critic_steps=5)
        assert float(rows[f"{label} on 10,000 samples, s"][0]) >= 0, label
    # the orchestration rows: two real sweeps of 2 trials each, one trial at a time (or it exits)
    overhead = rows["sweep of 2 short trials: overhead per trial, s (baseline: stock Ray Tune, no actor reuse)"]
    assert len(overhead) == 3 and all(cell for cell in overhead)
    reuse_q, stock_q = rows["its quartiles over the trials, s"][:2]
    assert reuse_q == f"{overhead[0]} to {overhead[0]}" and stock_q == f"{overhead[1]} to {overhead[1]}"
    assert all(float(gap) >= 0 for gap in rows["of which the gap between two trials, s"][:2])
    assert all(float(start) > 0 for start in rows["Ray start, s"][:2])
    assert float(rows["one trial's work in one process (median), s"][0]) > 0
    assert (BENCHMARKS.parent / "docs" / "benchmarks.md").read_text() == docs
