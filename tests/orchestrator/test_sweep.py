"""`orchestrate sweep` on a real local Ray cluster with a real MLflow store: the smoke sweep, a
trial or its critic killed mid-run (retried or restarted from its checkpoint, one MLflow run), a
storage that fills, an Optuna search with ASHA and fused trials. test_sweep_resume.py stops the
driver itself."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from orchestrator import layout

from .sweep_helpers import (
    SMOKE,
    child_runs,
    children_when_ready,
    ray_critic_actors,
    ray_trial_workers,
    spec_file,
    steps,
    sweep_command,
    sweep_until,
)

pytestmark = pytest.mark.slow


def test_smoke_sweep_tracks_every_trial(smoke_sweep):
    storage, out, wall = smoke_sweep
    assert out.returncode == 0, out.stderr[-3000:]
    assert "sweep smoke: 4 finished, 0 diverged, 0 stopped early, 0 failed" in out.stderr
    assert f"orchestrate ui --storage {storage}" in out.stdout
    assert re.search(r"\| \w+_0000\d: iteration \d+ / 20 \| loss/generator ", out.stderr), out.stderr
    assert re.search(r"it/s, about \d+s left", out.stderr), out.stderr
    for noise in ("Creating initial MLflow database tables", "tensorboard", "authentication token",
                  "Started a local Ray instance", "Configuration for experiment"):
        assert noise.lower() not in (out.stdout + out.stderr).lower(), noise       # only with --verbose
    client, parents, children = child_runs(storage, "smoke")
    experiment = client.get_experiment_by_name("smoke")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"   # the UI opens on runs
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.metrics["trials/finished"] == 4 and parents[0].data.params["spec"] == "smoke"
    assert len(children) == 4
    assert {r.data.params["lr_generator"] for r in children} == {"0.0001", "0.0005"}
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.info.status == "FINISHED" and run.data.tags["trial_status"] == "finished"
        assert run.data.params["model"] == "alphagan" and run.data.params["max_iter"] == "20"
        assert steps(client, run, "loss/generator") == [5, 10, 15, 20]
        assert steps(client, run, "loss/encoder") == [5, 10, 15, 20]
        assert steps(client, run, "critic/neg_w_test") == [10, 15, 20]      # from halfway on
        assert steps(client, run, "eval/sample_diversity") == [20]          # the final evaluation
        assert 0 < run.data.metrics["eval/sample_diversity"] < 1
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
        assert "samples/samples_0000020.png" in artifacts
        assert "samples/reconstructions_0000020.png" in artifacts
        codes = [a.path for a in client.list_artifacts(run.info.run_id, "latent")]
        assert codes == ["latent/test_codes_0000020.npy"]
        assert np.load(client.download_artifacts(run.info.run_id, codes[0], str(storage))).shape == (100, 8)
    # what Ray Tune (its schedulers, the progress lines) got of the critic beside the trial: each
    # report the figures of the snapshot it finished before, named, and at the end the last one's
    for result_file in sorted((storage / "smoke").glob("trial_*/result.json")):
        reports = [json.loads(line) for line in result_file.read_text().splitlines()]
        assert [(r[layout.ITERATION], r.get(layout.CRITIC_SNAPSHOT)) for r in reports] == \
            [(5, None), (10, None), (15, 10), (20, 20)], result_file
    print(f"smoke sweep wall time {wall:.1f} s for 4 trials")


def test_resuming_an_ended_sweep_starts_no_ray_and_changes_no_run(smoke_sweep):
    """`--resume` of a sweep that has ended (the quickstart run again, a batch job requeued after
    the end) prints the sweep's last lines from its parent run: no Ray session (13 s of one here),
    no run reopened."""
    storage, _, _ = smoke_sweep
    sessions = sorted(Path(os.environ["RAY_TMPDIR"]).glob("ray/session_2*"))
    assert sessions                                          # the smoke sweep's own, at least
    _, (before,), _ = child_runs(storage, "smoke")
    out = subprocess.run(sweep_command(SMOKE, storage, "--resume"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stderr.splitlines() == ["sweep smoke: every trial had ended; nothing to resume (Ray not started)",
                                       "sweep smoke: 4 finished, 0 diverged, 0 stopped early, 0 failed"]
    assert f"orchestrate ui --storage {storage}" in out.stdout
    assert sorted(Path(os.environ["RAY_TMPDIR"]).glob("ray/session_2*")) == sessions
    _, (after,), _ = child_runs(storage, "smoke")
    assert (after.info.status, after.info.end_time) == ("FINISHED", before.info.end_time)


def test_killed_trial_is_retried_from_its_checkpoint_into_the_same_run(tmp_path):
    """The killed Ray Tune trial is a fused model of 2 trials, restored from the checkpoint folder
    of both, each into its run, with its critic's state. One trial alone takes the same path of
    each trial's harness; tests/orchestrator/test_cluster.py kills the node of unfused trials."""
    fuse_trials = 2
    spec = spec_file(tmp_path, "killed", resources={"fuse_trials": fuse_trials}, max_iter=60)

    def reported_past_15():
        ready = children_when_ready(tmp_path, "killed")
        return bool(ready and any(steps(ready[0], r, "loss/generator")[-1:] >= [15] for r in ready[1])
                    and ray_trial_workers())

    returncode, _, stderr = sweep_until(spec, tmp_path, reported_past_15, "a trial past iteration 15",
                                        lambda process: os.kill(ray_trial_workers()[0], signal.SIGKILL))
    assert returncode == 0, stderr[-3000:]
    assert "failed; Ray retries it from its last checkpoint" in stderr
    client, _, children = child_runs(tmp_path, "killed")
    assert len(children) == 4                                           # no second run
    assert len({run.data.params["ray_trial_id"] for run in children}) == 4 // fuse_trials
    for run in children:
        assert run.info.status == "FINISHED" and run.data.tags["trial_status"] == "finished"
        history = steps(client, run, "loss/generator")
        assert set(history) == set(range(5, 61, 5)), history            # no report lost
        critic = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "critic/steps"),
                                          key=lambda m: (m.step, m.timestamp))]
        assert critic == sorted(critic) and critic[0] == 5              # the critic was not restarted


FULL_STORAGE_SCRIPT = """
mount -t tmpfs -o size=200m tmpfs "$STORAGE" || exit 1
"$PYTHON" -m orchestrator.cli sweep "$SPEC" --storage "$STORAGE" >"$LOGS/full.out" 2>"$LOGS/full.err" &
sweep=$!
while [ ! -e "$STORAGE/full" ] && kill -0 $sweep 2>/dev/null; do sleep 0.1; done
free=$(df --output=avail -B1 "$STORAGE" | tail -1)
fallocate -l $((free - 30 * 1024 * 1024)) "$STORAGE/filler" || exit 1
wait $sweep
echo $? >"$LOGS/full.rc"
find "$STORAGE" -name "*.tmp" >"$LOGS/parts.txt"
rm "$STORAGE/filler"
"$PYTHON" -m orchestrator.cli sweep "$SPEC" --storage "$STORAGE" --resume >"$LOGS/resumed.out" 2>"$LOGS/resumed.err"
echo $? >"$LOGS/resumed.rc"
cp "$STORAGE/mlflow.db" "$LOGS/"
"""


def test_a_full_storage_fails_trials_in_one_line_each_and_resume_finishes_them(tmp_path):
    """A storage that filled printed Ray's 60-line traceback per failure (torch.save's "unexpected
    pos"), and nothing said that --resume retries the failed trials. The storage is a real 200 MiB
    tmpfs, in a mount namespace of its own (root only; CI runs as root), with room for the sweep's
    checkpoints when it starts; once Ray Tune has made the sweep's folder, "another job" takes all
    but 30 MiB of it (a trial's 3 copies of a 13 MiB checkpoint, its own and Ray Tune's 2, cannot
    fit), and gives it back before --resume."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        if os.environ.get("CI"):
            pytest.fail("the full-storage test needs root and util-linux's unshare")
        pytest.skip("needs root and util-linux's unshare to mount a small tmpfs")
    storage, logs = tmp_path / "storage", tmp_path / "logs"
    storage.mkdir()
    logs.mkdir()
    spec = spec_file(tmp_path, "full", one_wave=True)
    env = {**os.environ, "STORAGE": str(storage), "LOGS": str(logs), "PYTHON": sys.executable, "SPEC": str(spec)}
    done = subprocess.run(["unshare", "--mount", "sh", "-c", FULL_STORAGE_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    log = {path.name: path.read_text() for path in logs.glob("*.*") if path.suffix != ".db"}
    full = log["full.err"]
    assert "Traceback" not in full, full[-3000:]
    retried = (re.escape(f"failed; Ray retries it from its last checkpoint: DiskFullError: the disk of the sweep's "
                         f"storage {storage}/full (node ") + r"[\d.]+"
               + re.escape(") is full (No space left on device; "))
    assert re.search(retried, full), full
    resume = f"orchestrate sweep {spec} --resume --storage {storage}"
    if log["full.rc"].strip() == "1":                  # the driver ended the sweep: each trial failed for good
        assert full.count("failed for good (max_failures reached): DiskFullError: ") == 2, full
        assert (f"2 trials failed after every retry (tracebacks in {storage}/full/trial_*/error.txt); once the cause "
                f"is fixed, {resume} retries them from their last checkpoints" in full), full
    else:            # the driver's own writes (or Ray Tune reading back what the full disk cut short) failed too
        line = full.strip().splitlines()[-1]
        assert log["full.rc"].strip() == "2" and line.startswith(
            f"orchestrate sweep: error: sweep full stopped: the disk of its storage {storage} is full ("), full
        assert line.endswith(f"free now): free space there, then {resume} continues every trial from its last "
                             "checkpoint"), full
    assert log["parts.txt"] == "", log["parts.txt"]              # no half-written checkpoint left
    assert log["resumed.rc"].strip() == "0", log["resumed.err"][-3000:]
    assert "sweep full: 2 finished, 0 diverged, 0 stopped early, 0 failed" in log["resumed.err"]
    client, parents, children = child_runs(logs, "full")
    assert parents[0].info.status == "FINISHED" and len(children) == 2
    for run in children:
        assert run.info.status == "FINISHED" and run.data.tags["trial_status"] == "finished"
        assert set(steps(client, run, "loss/generator")) == {5, 10, 15, 20}


def test_a_killed_critic_is_restarted_from_its_last_state_and_the_trial_goes_on(tmp_path):
    """The independent critic is evaluation only: its actor killed mid-trial fails no trial; the
    failure is tagged on the run and the critic continues from its last state."""
    spec = spec_file(tmp_path, "critic_killed", max_iter=60)

    def critic_running():
        ready = children_when_ready(tmp_path, "critic_killed")
        return bool(ready and any(steps(ready[0], r, "critic/neg_w_test")[-1:] >= [35] for r in ready[1])
                    and ray_critic_actors())

    def kill_critics(process):
        for pid in ray_critic_actors():
            os.kill(pid, signal.SIGKILL)

    returncode, _, stderr = sweep_until(spec, tmp_path, critic_running, "a critic past iteration 35", kill_critics)
    assert returncode == 0, stderr[-3000:]
    assert "sweep critic_killed: 4 finished, 0 diverged, 0 stopped early, 0 failed" in stderr
    assert "Ray retries it" not in stderr                              # no trial failed
    client, _, children = child_runs(tmp_path, "critic_killed")
    hit = [run for run in children if "critic_failure" in run.data.tags]
    assert hit, [run.data.tags for run in children]
    for run in hit:
        assert "restarted from its last state" in run.data.tags["critic_failure"]
        assert run.data.tags["trial_status"] == "finished"
        critic = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "critic/steps"),
                                          key=lambda m: (m.step, m.timestamp))]
        # the report at which it died has no critic value; from the next on the restarted critic
        # continues from its last state: its step count goes on, 5 steps per report, never reset
        assert critic == [5.0 * (k + 1) for k in range(len(critic))] and 4 <= len(critic) < 7


def test_optuna_search_with_asha_runs_and_closes_every_run(tmp_path):
    """As a user runs it (Optuna, ASHA, 6 samples of 60 iterations): a trial that reached max_iter
    is finished with its whole final evaluation, whatever ASHA says at its last report; one ASHA
    stopped early is `stopped`, with the iteration it reached; `orchestrate analyze` reports the sweep."""
    spec = yaml.safe_load(SMOKE.read_text())
    spec.update(name="tuned", search="optuna", num_samples=6, scheduler="asha",
                metric="critic_neg_w_test", mode="max")
    spec["trial"]["max_iter"] = 60
    path = tmp_path / "tuned.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = subprocess.run(sweep_command(path, tmp_path), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    client, parents, children = child_runs(tmp_path, "tuned")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 6
    finished = 0
    for run in children:                       # finished, or stopped early by ASHA: never left open
        assert run.info.status in ("FINISHED", "KILLED")
        assert run.data.tags["trial_status"] in ("finished", "stopped")
        assert float(run.data.params["lr_generator"]) in (0.0001, 0.0005)
        reached = steps(client, run, "loss/generator")[-1]
        if run.data.tags["trial_status"] == "finished":
            finished += 1
            assert reached == 60 and steps(client, run, "eval/sample_diversity") == [60]
            codes = [a.path for a in client.list_artifacts(run.info.run_id, "latent")]
            assert codes == ["latent/test_codes_0000060.npy"]
        else:
            assert int(run.data.tags["stopped_at_iteration"]) == reached < 60
    assert finished >= 1
    analysis = subprocess.run([sys.executable, "-m", "orchestrator.cli", "analyze", str(path), "--storage",
                               str(tmp_path), "--out", str(tmp_path / "report"), "--no-log"],
                              capture_output=True, text=True, timeout=300)
    assert analysis.returncode == 0, analysis.stderr[-3000:]
    html = (tmp_path / "report" / "report.html").read_text()
    if finished < 6:
        assert "Stopped early by the scheduler (ASHA)" in html and "at iteration" in html
    print(f"ASHA sweep: {finished} of 6 trials finished, {6 - finished} stopped early")


def test_fused_sweep_gives_each_trial_its_own_run_with_the_unfused_losses(smoke_sweep, tmp_path):
    """resources.fuse_trials: 2 trains the smoke sweep's 4 trials as 2 fused models: each trial
    still has its own MLflow run, critic, final evaluation and checkpoint folder, and its losses
    are those of the same trial in the unfused smoke sweep."""
    spec = yaml.safe_load(SMOKE.read_text())
    spec["name"], spec["resources"]["fuse_trials"] = "fused", 2
    path = tmp_path / "fused.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = subprocess.run(sweep_command(path, tmp_path), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "4 trials fused into 2 models" in out.stderr
    assert "sweep fused: 4 finished, 0 diverged, 0 stopped early, 0 failed" in out.stderr
    client, parents, children = child_runs(tmp_path, "fused")
    assert len(children) == 4 and parents[0].data.metrics["trials/finished"] == 4
    groups = {}
    for run in children:
        groups.setdefault(run.data.params["ray_trial_id"], set()).add(run.data.tags["fused_index"])
        assert run.info.status == "FINISHED" and run.data.tags["trial_status"] == "finished"
        assert steps(client, run, "loss/generator") == [5, 10, 15, 20]
        assert steps(client, run, "critic/neg_w_test") == [10, 15, 20]
        assert steps(client, run, "eval/sample_diversity") == [20]
        assert "samples/samples_0000020.png" in {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
        assert [a.path for a in client.list_artifacts(run.info.run_id, "latent")] == ["latent/test_codes_0000020.npy"]
    assert sorted(map(sorted, groups.values())) == [["0", "1"], ["0", "1"]]
    unfused_client, _, unfused = child_runs(smoke_sweep[0], "smoke")

    def key(run):
        return run.data.params["lr_generator"], run.data.params["recon_weight_encoder"]

    alone = {key(run): run for run in unfused}
    for run in children:
        for loss in ("loss/encoder", "loss/generator", "loss/discriminator", "loss/code_discriminator"):
            got = client.get_metric_history(run.info.run_id, loss)
            want = unfused_client.get_metric_history(alone[key(run)].info.run_id, loss)
            first = {m.step: m.value for m in got}[5], {m.step: m.value for m in want}[5]
            assert first[0] == pytest.approx(first[1], rel=1e-2), (key(run), loss)    # float32, 5 updates
    fused_trial = sorted((tmp_path / "fused").glob("trial_*"))[0]           # evaluate names its members
    refused = subprocess.run([sys.executable, "-m", "orchestrator.cli", "evaluate", str(fused_trial)],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"orchestrate evaluate: error: {fused_trial} holds 2 fused trials: evaluate one, e.g. "
        f"orchestrate evaluate {fused_trial / 'work' / 'checkpoints' / '0'}"), refused.stderr


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_cuda_graphs_on_a_cluster_without_gpus_is_refused_before_any_run(tmp_path):
    spec = spec_file(tmp_path, "graphs", cuda_graphs=True, device="auto")
    out = subprocess.run(sweep_command(spec, tmp_path), capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if "cuda_graphs" in line]
    assert len(errors) == 1 and "needs GPU trials" in errors[0] and "cuda_graphs: false" in errors[0]
    assert not (tmp_path / "mlflow.db").exists()                 # no sweep run was started


@pytest.mark.parametrize("unfinished, crashed", [(0, 0), (2, 0), (0, 2)])
def test_the_commands_a_sweep_prints_can_be_pasted_when_paths_have_spaces(unfinished, crashed, tmp_path, capsys):
    """`see them: orchestrate ui --storage /data/my runs` and the --resume hint were printed
    unquoted: pasted into a shell, a path with a space split in two."""
    import shlex
    from pathlib import Path

    from orchestrator.sweep import SweepOptions, report_outcome
    from orchestrator.sweep_spec import load_sweep_spec

    spec_file = tmp_path / "my specs" / "smoke.yaml"
    spec_file.parent.mkdir()
    spec_file.write_text(SMOKE.read_text())
    storage = Path("/data/my runs")
    summary = dict(finished=4 - unfinished - crashed, diverged=0, stopped=0, failed=crashed, unfinished=unfinished)
    code = report_outcome(load_sweep_spec(spec_file), storage, "sqlite:///x.db", summary, SweepOptions(storage),
                          crashed)
    out = capsys.readouterr()
    resume = ["orchestrate", "sweep", str(spec_file), "--resume", "--storage", str(storage)]
    if unfinished:
        assert code == 130
        assert shlex.split(out.err.split("continue with ")[1].strip()) == resume
    elif crashed:
        assert code == 1
        assert shlex.split(out.err.split("once the cause is fixed, ")[1].split(" retries them")[0]) == resume
    else:
        assert code == 0
        command = out.out.split("see them: ")[1].splitlines()[0]
        assert shlex.split(command) == ["orchestrate", "ui", "--storage", str(storage)]
        command = out.out.split("judge the sweep (quartiles, box plots, best samples): ")[1].strip()
        assert shlex.split(command) == ["orchestrate", "analyze", str(spec_file), "--storage", str(storage)]
