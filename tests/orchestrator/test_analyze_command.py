"""`orchestrate analyze` on a real smoke sweep (real Ray, real MLflow, real training): every file,
the trial values in the tables equal the runs' logged values, the report in the parent run."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from orchestrator import layout

from .sweep_helpers import SMOKE, child_runs

pytestmark = pytest.mark.slow

FILES = {"trials.csv", "quartiles.csv", "quartiles.md", "best_jobs.csv", "best_jobs.md", "box_plots.png",
         "critic_curves.png", "latent_alphagan.png", "metric_agreement.png", "metric_correlation.csv",
         "metric_different_halves.csv", "report.html", "latent_statistics.csv",
         # the paper's pictures: best samples by the critic, reconstructions, best samples by each metric
         "samples_alphagan.png", "reconstructions_alphagan.png", "samples_alphagan_best_critic_neg_w_test.png",
         "samples_alphagan_best_critic_neg_w_val.png", "samples_alphagan_best_sample_diversity.png"}


def test_analyze_a_real_smoke_sweep(smoke_sweep, tmp_path):
    storage, sweep, _ = smoke_sweep
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    refused = subprocess.run([sys.executable, "-m", "orchestrator.cli", "analyze", str(SMOKE), "--storage",
                              str(storage), "--out", "/proc/alphagan-analysis"], capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1] == (
        "orchestrate analyze: error: --out /proc/alphagan-analysis cannot be created in /proc (No such file or "
        "directory); pass a folder you can write")
    out = tmp_path / "analysis"
    result = subprocess.run([sys.executable, "-m", "orchestrator.cli", "analyze", str(SMOKE), "--storage",
                             str(storage), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == FILES
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    client, parents, children = child_runs(storage, "smoke")
    logged = [r.data.metrics for r in children]
    quartiles = pd.read_csv(out / "quartiles.csv").set_index("metric")
    assert set(quartiles.index) == {"critic_neg_w_test", "critic_neg_w_val", "sample_diversity"}
    for metric in quartiles.index:
        values = pd.Series([m[layout.metric_names(metric)[0]] for m in logged])
        row = quartiles.loc[metric]
        assert row["count"] == 4 and row["group"] == "alphagan"
        assert row[["min", "q1", "median", "q3", "max"]].tolist() == pytest.approx(
            [values.min(), values.quantile(0.25), values.median(), values.quantile(0.75), values.max()], rel=1e-9)
    best = pd.read_csv(out / "best_jobs.csv")
    assert best["critic_neg_w_test"].is_monotonic_decreasing and len(best) == 4
    assert set(best.columns) >= {"lr_generator", "recon_weight_encoder", "trial"}
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4 + 5
    analysis = {a.path for a in MlflowClient(f"sqlite:///{storage / 'mlflow.db'}").list_artifacts(
        parents[0].info.run_id, "analysis")}
    assert analysis == {f"analysis/{name}" for name in FILES}


def test_analyze_a_copy_of_the_storage_where_the_sweep_is_gone(smoke_sweep, tmp_path):
    """Results rsynced from a cluster to a laptop: the copy's MLflow store and state file name the
    folder the sweep ran in, which is not there. The report was left without its samples and
    latent statistics (their artifacts read from that path), and analyze recreated the path with an
    empty store or logged the report into it; now all is read from the copy, and logged to it."""
    storage, sweep, _ = smoke_sweep
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    copy, away, out = tmp_path / "copy", storage.with_name(storage.name + ".away"), tmp_path / "analysis"
    shutil.copytree(storage, copy, symlinks=True)
    for logged_before in copy.glob(f"{layout.ARTIFACTS}/*/artifacts/{layout.ANALYSIS}"):   # by the test above
        shutil.rmtree(logged_before)
    storage.rename(away)
    try:
        result = subprocess.run([sys.executable, "-m", "orchestrator.cli", "analyze", str(SMOKE), "--storage",
                                 str(copy), "--out", str(out)], capture_output=True, text=True, timeout=300)
        recreated = storage.exists()
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        away.rename(storage)
    assert result.returncode == 0, result.stderr
    assert not recreated
    assert {p.name for p in out.iterdir()} == FILES
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4 + 5
    logged = {p.name for p in copy.glob(f"{layout.ARTIFACTS}/*/artifacts/{layout.ANALYSIS}/*")}
    assert logged == FILES
