"""`orchestrate analyze` on a real SQLite MLflow store holding sweeps with known metric values:
the runs read back, every output file, the report logged to the parent run, partial and failed
sweeps, and bad input as one line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from analysis.errors import AnalysisError
from analysis.runs import load_sweep
from orchestrator import layout
from orchestrator.analyze_command import resolve_sweep
from orchestrator.tracking import create_sqlite_store

OUTPUTS = {"trials.csv", "quartiles.csv", "quartiles.md", "best_jobs.csv", "best_jobs.md", "latent_statistics.csv",
           "metric_correlation.csv", "metric_different_halves.csv", "box_plots.png", "critic_curves.png",
           "latent_alphagan.png", "metric_agreement.png", "report.html"}


def mlflow_name(key: str, old_names: bool) -> str:
    """How `orchestrate sweep` names a final metric in MLflow: with its section (critic/, eval/),
    or as sweeps recorded before sections did (the bare key)."""
    if old_names:
        return key
    return "critic/" + key.removeprefix("critic_") if key.startswith("critic_") else "eval/" + key


def make_sweep(storage: Path, name: str, model: str, trials: list[dict], parent_status="FINISHED",
               codes: np.ndarray | None = None, old_names: bool = False, grids: bool = False,
               params: dict | None = None) -> tuple[MlflowClient, str]:
    """A sweep as `orchestrate sweep` records it: a parent run and one child run per trial.
    ``trials``: dicts with status, lr and final metric values (critic curves at steps 10, 20).
    ``old_names``: metric names without sections, as older sweeps wrote them. ``grids``: each
    finished trial logs sample and reconstruction grids of 28 px images (as older sweeps wrote
    them, not enlarged), the last one's pixels telling the trial apart."""
    uri, artifacts = f"sqlite:///{storage / 'mlflow.db'}", storage / layout.ARTIFACTS
    create_sqlite_store(uri, artifacts)           # as a sweep makes it: a copy of the kept empty store
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    experiment_id = (experiment.experiment_id if experiment else
                     client.create_experiment(name, artifact_location=artifacts.as_uri()))
    parent = client.create_run(experiment_id, run_name=f"sweep {name}", tags={"kind": "sweep"}).info.run_id
    for i, trial in enumerate(trials):
        run = client.create_run(experiment_id, run_name=f"{name}_{i:05d}",
                                tags={"mlflow.parentRunId": parent, "kind": "trial",
                                      "trial_status": trial["status"]}).info.run_id
        params_ = {"model": model, "dataset": "colormnist", "lr_generator": trial["lr"], "seed": 0,
                   "ray_trial_id": f"t{i}", **(params or {})}
        metrics = []
        for key, value in trial.items():
            if key in ("status", "lr"):
                continue
            if key.startswith("critic"):                 # a curve ending at the final value
                metrics.append(Metric(mlflow_name(key, old_names), value - 1.0, 0, 10))
            metrics.append(Metric(mlflow_name(key, old_names), value, 0, 20))
        client.log_batch(run, metrics=metrics, params=[Param(k, str(v)) for k, v in params_.items()])
        if grids and trial["status"] == "finished":
            for step in (10, 20):
                for kind in ("samples", "reconstructions"):
                    path = storage / "grids" / f"{name}_{i}" / f"{kind}_{step:07d}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    grid_image(i, step).save(path)
                    client.log_artifact(run, str(path), "samples")
        if codes is not None and trial["status"] == "finished":
            path = storage / f"codes_{i}.npy"
            np.save(path, codes + i)
            client.log_artifact(run, str(path), "latent")
        if trial["status"] != "running":
            client.set_terminated(run, "FINISHED" if trial["status"] in ("finished", "diverged") else
                                  "KILLED" if trial["status"] in ("interrupted", "stopped") else "FAILED")
    if parent_status != "RUNNING":
        client.set_terminated(parent, parent_status)
    (storage / f"{name}.sweep.json").write_text(json.dumps(
        {"parent_run_id": parent, "tracking_uri": f"sqlite:///{storage / 'mlflow.db'}"}))
    return client, parent


def grid_image(trial: int, step: int):
    """An 8 x 2 grid of 28 px images (2 px padding), its first pixel the trial and step."""
    from PIL import Image

    image = Image.new("RGB", (8 * 30 + 2, 2 * 30 + 2), (trial * 40 % 256, step, 90))
    image.putpixel((0, 0), (trial, step, 7))
    return image


def alphagan_trials():
    return [{"status": "finished", "lr": 1e-4, "critic_neg_w_test": -3.0, "inception_score": 400.0,
             "sample_diversity": 0.80, "modes": 900.0, "fid": 20.0},
            {"status": "finished", "lr": 5e-4, "critic_neg_w_test": -1.0, "inception_score": 500.0,
             "sample_diversity": 0.83, "modes": 990.0, "fid": 10.0},
            {"status": "finished", "lr": 1e-3, "critic_neg_w_test": -2.0, "inception_score": 450.0,
             "sample_diversity": 0.70, "modes": 950.0, "fid": 15.0},
            {"status": "diverged", "lr": 5e-3, "critic_neg_w_test": -50.0}]


def dcgan_trials():
    return [{"status": "finished", "lr": 1e-4, "critic_neg_w_test": -6.0, "inception_score": 100.0,
             "sample_diversity": 0.5, "modes": 300.0, "fid": 90.0},
            {"status": "failed", "lr": 5e-4}]


def analyze(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", "analyze", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def load(storage: Path, name: str):
    return load_sweep(name, tracking_uri=layout.default_tracking_uri(storage), records=layout)


@pytest.mark.parametrize("old_names", [False, True])
def test_runs_read_back_with_params_status_and_last_metric_values(tmp_path, old_names):
    """Also for a store whose metric names have no sections (sweeps recorded before they had)."""
    make_sweep(tmp_path, "toy", "alphagan", alphagan_trials(), old_names=old_names)
    sweep = load(tmp_path, "toy")
    assert sweep.counts() == {"finished": 3, "diverged": 1, "stopped": 0, "failed": 0, "running": 0,
                              "interrupted": 0}
    assert not sweep.running
    table = sweep.trials.set_index("trial")
    assert table.loc["toy_00001", "lr_generator"] == 5e-4 and table.loc["toy_00001", "model"] == "alphagan"
    assert table.loc["toy_00001", "critic_neg_w_test"] == -1.0            # the step-20 value
    assert "ray_trial_id" not in table and "lr_generator" in sweep.hyperparameters


def test_two_sweeps_side_by_side_with_exact_quartiles_and_every_file(tmp_path):
    """The DCGAN sweep is recorded with the old metric names (no sections): both analyse."""
    codes = np.random.default_rng(0).normal(size=(50, 6))
    _, parent = make_sweep(tmp_path, "colormnist_alphagan", "alphagan", alphagan_trials(), codes=codes)
    make_sweep(tmp_path, "colormnist_dcgan", "dcgan", dcgan_trials(), old_names=True)
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"reference": "colormnist", "metrics": {
        "sample_diversity": 0.829, "sample_diversity_noisy": 0.83, "inception_score": 511.5, "fid": 14.6,
        "modes": 1000, "critic_neg_w_test": -0.01}}))
    out = tmp_path / "report"
    result = analyze("colormnist_alphagan", "colormnist_dcgan", "--storage", tmp_path, "--out", out,
                     "--reference", reference)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == OUTPUTS
    quartiles = pd.read_csv(out / "quartiles.csv").set_index(["group", "metric"])
    assert quartiles.loc[("alphagan", "inception_score")].tolist() == [3, 400.0, 425.0, 450.0, 475.0, 500.0]
    assert quartiles.loc[("alphagan", "critic_neg_w_test")].tolist() == [3, -3.0, -2.5, -2.0, -1.5, -1.0]
    assert quartiles.loc[("dcgan", "fid")].tolist() == [1, 90.0, 90.0, 90.0, 90.0, 90.0]
    best = pd.read_csv(out / "best_jobs.csv")
    assert not any(column.endswith(".1") for column in best.columns)        # each column once, two sweeps
    # ranked by the critic's -W on the test set; diverged and failed trials are never "best"
    assert best["trial"].tolist() == ["colormnist_alphagan_00001", "colormnist_alphagan_00002",
                                      "colormnist_alphagan_00000", "colormnist_dcgan_00000"]
    assert "lr_generator" in best and "seed" not in best           # the hyperparameters that vary
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4                # box, critic, latent, agreement
    assert "Partial results" not in html and "511.5" in html
    # the trials that did not finish, named with where they are in the grid
    assert ("Diverged (a loss became non-finite; the trial keeps its last good checkpoint), not in the tables: "
            "colormnist_alphagan_00003 (model alphagan, lr_generator 0.005).") in html
    assert ("Failed after every retry (the traceback is the trial&#x27;s error.txt), not in the tables: "
            "colormnist_dcgan_00001 (model dcgan, lr_generator 0.0005).") in html
    logged = {a.path for a in MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").list_artifacts(parent, "analysis")}
    assert {f"analysis/{name}" for name in OUTPUTS} == logged
    assert "report: " in result.stdout and "[7/7] HTML report" in result.stderr


def test_report_of_a_running_sweep_is_marked_partial(tmp_path):
    trials = alphagan_trials()[:2] + [{"status": "running", "lr": 1e-3, "critic_neg_w_test": -9.0}]
    make_sweep(tmp_path, "toy", "alphagan", trials, parent_status="RUNNING")
    spec = tmp_path / "toy.yaml"
    spec.write_text(Path("search_spaces/smoke.yaml").read_text().replace("name: smoke", "name: toy"))
    result = analyze(spec, "--storage", tmp_path, "--out", tmp_path / "out", "--no-log")
    assert result.returncode == 0, result.stderr
    assert "still running, the report is partial" in result.stderr
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Partial results" in html
    # no reference file: the report names the command for the sweep's own dataset
    assert "None: run <code>orchestrate evaluate --reference --dataset colormnist</code>, then analyze again" in html
    assert pd.read_csv(tmp_path / "out" / "quartiles.csv").set_index("metric").loc["critic_neg_w_test", "count"] == 2


INTERRUPTED_LINE = ("toy: 3 trials of 4 (2 finished, 1 unfinished); interrupted (no driver runs it), the report is "
                    "partial; continue it with ")
INTERRUPTED_NOTE = ("the sweep was interrupted; the tables and plots cover the trials finished so far. Resume it, "
                    "and run")


@pytest.mark.parametrize("driver, line, note", [
    ("holds its lock", "toy: 3 trials of 4 (2 finished, 1 running); still running, the report is partial",
     "the sweep is still running; the tables and plots cover the trials finished so far. Run the analysis again"),
    ("ended", INTERRUPTED_LINE, INTERRUPTED_NOTE),
    ("marked its runs interrupted", INTERRUPTED_LINE, INTERRUPTED_NOTE),
])
def test_an_interrupted_sweep_is_not_called_running(tmp_path, driver, line, note):
    """A sweep stopped by Ctrl-C left its runs open: analyze said "still running" and counted its
    unfinished trials as running, weeks after its driver had ended. Its driver's lock tells where
    the driver was killed outright; else the driver marked the runs (KILLED, trial status
    interrupted), which tells with no lock file at hand (a tracking server read from elsewhere)."""
    import fcntl

    marked = driver == "marked its runs interrupted"
    trials = alphagan_trials()[:2] + [{"status": "interrupted" if marked else "running", "lr": 1e-3,
                                       "critic_neg_w_test": -9.0}]
    client, parent = make_sweep(tmp_path, "toy", "alphagan", trials, parent_status="KILLED" if marked else "RUNNING")
    client.log_param(parent, layout.SWEEP_TRIALS_PARAM, "4")
    spec = tmp_path / "toy.yaml"
    spec.write_text(Path("search_spaces/smoke.yaml").read_text().replace("name: smoke", "name: toy"))
    with open(layout.driver_lock_path(tmp_path, "toy"), "a+") as lock:
        if driver == "holds its lock":
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if marked:
            layout.driver_lock_path(tmp_path, "toy").unlink()
        result = analyze(spec, "--storage", tmp_path, "--out", tmp_path / "out", "--no-log")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith(line), result.stderr
    if driver != "holds its lock":
        assert result.stderr.splitlines()[0].endswith(f" sweep {spec} --resume --storage {tmp_path}")
    assert note in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.parametrize("case, message", [
    ("no_finished", "no finished trial to analyse yet (toy: 1 diverged, 1 failed, 1 running)"),
    ("unknown", "'nosuch' is neither a sweep spec, an experiment nor a run id in sqlite:///STORE/mlflow.db "
                "(its sweeps: toy)"),
    ("no_store", "no MLflow store in"),
    ("rank_by", "--rank-by 'accuracy' is not a metric"),
    ("wrong_reference", "holds the reference of 'cifar10', but the sweep trained on colormnist"),
    ("trial_as_reference", "holds the metrics of the trial runs/x, not a dataset's own values: make one with "
                           "`orchestrate evaluate --reference --dataset colormnist`"),
    ("missing_reference", "no reference file"),
    ("same_sweep_twice", "toy.yaml are the same sweep (run "),
])
def test_bad_input_is_one_clear_line(tmp_path, case, message):
    storage = tmp_path / "store"
    storage.mkdir()
    args = ["toy", "--storage", storage, "--no-log", "--out", tmp_path / "out"]
    if case == "no_finished":
        make_sweep(storage, "toy", "alphagan", [{"status": "diverged", "lr": 1e-4},
                                                {"status": "failed", "lr": 1e-3},
                                                {"status": "running", "lr": 1e-2}], parent_status="RUNNING")
    elif case == "unknown":
        make_sweep(storage, "toy", "alphagan", alphagan_trials())
        args[0] = "nosuch"
    elif case == "rank_by":
        make_sweep(storage, "toy", "alphagan", alphagan_trials())
        args += ["--rank-by", "accuracy"]
    elif case == "wrong_reference":
        make_sweep(storage, "toy", "alphagan", alphagan_trials())
        (tmp_path / "ref.json").write_text(json.dumps({"reference": "cifar10", "metrics": {}}))
        args += ["--reference", tmp_path / "ref.json"]
    elif case == "trial_as_reference":
        make_sweep(storage, "toy", "alphagan", alphagan_trials())
        (tmp_path / "ref.json").write_text(json.dumps({"run": "runs/x", "metrics": {"fid": 1.0}}))
        args += ["--reference", tmp_path / "ref.json"]
    elif case == "missing_reference":
        make_sweep(storage, "toy", "alphagan", alphagan_trials())
        args += ["--reference", tmp_path / "ref.json"]
    elif case == "same_sweep_twice":
        make_sweep(storage, "toy", "alphagan", alphagan_trials())
        spec = tmp_path / "toy.yaml"
        spec.write_text(Path("search_spaces/smoke.yaml").read_text().replace("name: smoke", "name: toy"))
        args.insert(1, spec)
    result = analyze(*args)
    message = message.replace("STORE", str(storage))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("orchestrate analyze: error: ") and message in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "report.html").exists()


def test_missing_store_raises_analysis_error(tmp_path):
    with pytest.raises(AnalysisError, match="no MLflow store"):
        resolve_sweep("toy", tmp_path, None)


def test_report_shows_the_papers_pictures_and_the_ablations_latents_side_by_side(tmp_path):
    """Figures 3/4/6 (best samples by the critic), 8 (reconstructions), 11-12 (latent statistics of
    alpha-GAN and its empirical-KL ablation side by side) and 14 (best samples by each metric)."""
    rng = np.random.default_rng(1)
    decorrelated = rng.normal(size=(400, 6))
    shared = rng.normal(size=(400, 1))
    entangled = 0.3 * rng.normal(size=(400, 6)) + shared                   # one factor in every dimension
    make_sweep(tmp_path, "cmnist_alphagan", "alphagan", alphagan_trials(), codes=decorrelated, grids=True)
    make_sweep(tmp_path, "cmnist_alphagan_kl", "alphagan", alphagan_trials(), codes=entangled, grids=True,
               params={"prior_matching": "empirical_kl"})
    out = tmp_path / "report"
    result = analyze("cmnist_alphagan", "cmnist_alphagan_kl", "--storage", tmp_path, "--out", out, "--no-log")
    assert result.returncode == 0, result.stderr
    latent = pd.read_csv(out / "latent_statistics.csv").set_index("group")
    assert set(latent.index) == {"alphagan", "alphagan (empirical KL)"}
    assert latent.loc["alphagan (empirical KL)", "mean_abs_correlation"] > 0.8
    assert latent.loc["alphagan", "mean_abs_correlation"] < 0.1
    assert (out / "latent_comparison.png").stat().st_size > 10_000
    html = (out / "report.html").read_text()
    for section in ("Latent statistics side by side (Figures 11-12)", "<h2>Samples</h2>", "Reconstructions",
                    "Best samples by each metric (Figure 14)"):
        assert section in html
    from PIL import Image

    # the best alpha-GAN job by the critic is trial 1 (-W -1.0): its last grid (step 20), enlarged
    best = Image.open(out / "samples_alphagan.png")
    assert best.size == (4 * (8 * 30 + 2), 4 * (2 * 30 + 2))                   # 242 px -> 968 px, nearest
    assert best.getpixel((0, 0)) == best.getpixel((3, 3)) == (1, 20, 7)
    assert Image.open(out / "reconstructions_alphagan.png").getpixel((0, 0)) == (1, 20, 7)
    # by FID (lower is better) the best alpha-GAN job is trial 1 too; by modes it is trial 1; by the
    # inception score trial 1; the ablation's files are named by its group
    assert Image.open(out / "samples_alphagan_best_fid.png").getpixel((0, 0)) == (1, 20, 7)
    assert (out / "samples_alphagan_empirical_KL.png").is_file()
    assert (out / "samples_alphagan_empirical_KL_best_sample_diversity.png").is_file()


def test_trials_that_did_not_finish_are_named_with_their_grid_values_at_most_twenty_per_note():
    """Stopped (ASHA, with the iteration reached), diverged and failed trials: a note each, every
    trial named with the hyperparameters the sweep varies; an ASHA sweep of 96 trials that stops 70
    named all 70 in one line before the cap applied to stopped trials too."""
    from analysis.report import unfinished

    rows = ([{"trial": f"s{i}", "status": "stopped", "stopped_at": 250 * (1 + i % 2), "lr_generator": 1e-4}
             for i in range(23)]
            + [{"trial": "d0", "status": "diverged", "stopped_at": None, "lr_generator": 5e-3},
               {"trial": "f0", "status": "finished", "stopped_at": None, "lr_generator": 5e-4}])
    stopped, diverged = unfinished(pd.DataFrame(rows), ["lr_generator"])
    assert stopped.startswith("Stopped early by the scheduler (ASHA), not in the tables: s0 at iteration 250 "
                              "(lr_generator 0.0001), s1 at iteration 500 (lr_generator 0.0001), ")
    assert stopped.endswith("s19 at iteration 500 (lr_generator 0.0001) and 3 more (trials.csv has them all).")
    assert diverged == ("Diverged (a loss became non-finite; the trial keeps its last good checkpoint), not in the "
                        "tables: d0 (lr_generator 0.005).")
