"""`orchestrate sweep` on a real local Ray cluster with a real MLflow store: the smoke sweep, a
trial killed mid-run (retried from its checkpoint, one MLflow run), and an interrupted sweep
resumed with --resume (nothing finished is rerun)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

SMOKE = Path(__file__).resolve().parents[2] / "search_spaces" / "smoke.yaml"
pytestmark = pytest.mark.slow


def spec_file(tmp_path, name, **trial):
    spec = yaml.safe_load(SMOKE.read_text())
    spec["name"] = name
    spec["trial"].update(trial)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def sweep_command(spec, storage, *extra):
    return [sys.executable, "-m", "orchestrator.cli", "sweep", str(spec), "--storage", str(storage), *extra]


def child_runs(storage, name):
    client = MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("kind") == "trial"]
    return client, parents, children


def children_when_ready(storage, name):
    """(client, child runs) once the driver has created the store and the experiment, else None."""
    if not (storage / "mlflow.db").exists():
        return None
    try:
        client, _, children = child_runs(storage, name)
    except Exception:                                   # store or experiment still being created
        return None
    return client, children


def steps(client, run, key):
    return [m.step for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def wait_for(condition, timeout, what, process):
    """Poll ``condition``; fail at once, with the sweep's output, if the sweep exits first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if process.poll() is not None:
            stdout, stderr = process.communicate()
            raise AssertionError(f"the sweep exited ({process.returncode}) before {what}:\n"
                                 f"{stdout[-2000:]}\n{stderr[-4000:]}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_smoke_sweep_tracks_every_trial(tmp_path):
    start = time.time()
    out = subprocess.run(sweep_command(SMOKE, tmp_path), capture_output=True, text=True, timeout=900)
    wall = time.time() - start
    assert out.returncode == 0, out.stderr[-3000:]
    assert "sweep smoke: 4 finished, 0 diverged, 0 stopped early, 0 failed" in out.stderr
    assert f"orchestrate ui --storage {tmp_path}" in out.stdout
    client, parents, children = child_runs(tmp_path, "smoke")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.metrics["trials_finished"] == 4 and parents[0].data.params["spec"] == "smoke"
    assert len(children) == 4
    assert {r.data.params["lr_generator"] for r in children} == {"0.0001", "0.0005"}
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.info.status == "FINISHED" and run.data.tags["trial_status"] == "finished"
        assert run.data.params["model"] == "alphagan" and run.data.params["max_iter"] == "20"
        assert steps(client, run, "generator") == [5, 10, 15, 20]
        assert steps(client, run, "encoder") == [5, 10, 15, 20]
        assert steps(client, run, "critic_neg_w_test") == [10, 15, 20]      # from halfway on
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
        assert "samples/samples_0000020.png" in artifacts
        assert "samples/reconstructions_0000020.png" in artifacts
    print(f"smoke sweep wall time {wall:.1f} s for 4 trials")


def sweep_until(spec, storage, condition, what, act, timeout=900):
    """Run a sweep in the background, wait for ``condition``, ``act(process)`` on it, and return
    (returncode, stdout, stderr) once the sweep ends; the sweep is killed if the test fails."""
    process = subprocess.Popen(sweep_command(spec, storage), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for(condition, 600, what, process)
        act(process)
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stdout, stderr


def ray_trial_workers():
    """PIDs of the Ray worker processes running a trial function (not its critic actor)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("ray::") and ("run_trial" in cmdline or "ImplicitFunc" in cmdline):
                pids.append(int(proc.name))
    return pids


def test_killed_trial_is_retried_from_its_checkpoint_into_the_same_run(tmp_path):
    spec = spec_file(tmp_path, "killed", max_iter=60)

    def reported_past_15():
        ready = children_when_ready(tmp_path, "killed")
        return bool(ready and any(steps(ready[0], r, "generator")[-1:] >= [15] for r in ready[1])
                    and ray_trial_workers())

    returncode, _, stderr = sweep_until(spec, tmp_path, reported_past_15, "a trial past iteration 15",
                                        lambda process: os.kill(ray_trial_workers()[0], signal.SIGKILL))
    assert returncode == 0, stderr[-3000:]
    assert "failed; Ray retries it from its last checkpoint" in stderr
    client, _, children = child_runs(tmp_path, "killed")
    assert len(children) == 4                                           # no second run
    for run in children:
        assert run.info.status == "FINISHED" and run.data.tags["trial_status"] == "finished"
        history = steps(client, run, "generator")
        assert set(history) == set(range(5, 61, 5)), history            # no report lost
        critic = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "critic_steps"),
                                          key=lambda m: (m.step, m.timestamp))]
        assert critic == sorted(critic) and critic[0] == 5              # the critic was not restarted


def test_interrupted_sweep_resumes_without_rerunning_finished_trials(tmp_path):
    spec = spec_file(tmp_path, "resumed", max_iter=40)

    def one_finished():
        ready = children_when_ready(tmp_path, "resumed")
        return bool(ready and any(r.data.tags.get("trial_status") == "finished" for r in ready[1]))

    returncode, _, stderr = sweep_until(spec, tmp_path, one_finished, "a finished trial",
                                        lambda process: process.send_signal(signal.SIGINT), timeout=300)
    assert returncode == 130, stderr[-3000:]
    assert "--resume" in stderr
    client, _, before = child_runs(tmp_path, "resumed")
    finished = {r.info.run_id: len(client.get_metric_history(r.info.run_id, "generator"))
                for r in before if r.data.tags.get("trial_status") == "finished"}
    assert finished
    again = subprocess.run(sweep_command(spec, tmp_path), capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "add --resume" in again.stderr
    resumed = subprocess.run(sweep_command(spec, tmp_path, "--resume"), capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client, parents, children = child_runs(tmp_path, "resumed")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 4
    for run in children:
        assert run.data.tags["trial_status"] == "finished"
        assert set(steps(client, run, "generator")) == set(range(5, 41, 5))
        if run.info.run_id in finished:                               # not trained again
            assert len(client.get_metric_history(run.info.run_id, "generator")) == finished[run.info.run_id]


def test_optuna_search_with_asha_runs_and_closes_every_run(tmp_path):
    spec = yaml.safe_load(SMOKE.read_text())
    spec.update(name="tuned", search="optuna", num_samples=2, scheduler="asha",
                metric="critic_neg_w_test", mode="max")
    path = tmp_path / "tuned.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = subprocess.run(sweep_command(path, tmp_path), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    client, parents, children = child_runs(tmp_path, "tuned")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 2
    for run in children:                       # finished, or stopped early by ASHA: never left open
        assert run.info.status in ("FINISHED", "KILLED")
        assert run.data.tags["trial_status"] in ("finished", "stopped")
        assert float(run.data.params["lr_generator"]) in (0.0001, 0.0005)
