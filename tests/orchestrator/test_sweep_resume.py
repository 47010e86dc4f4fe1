"""`orchestrate sweep --resume` after the driver was stopped: killed outright (SIGKILL, after ASHA
stopped trials too) or interrupted (SIGTERM in an Optuna search), with Ray Tune's saved state cut
short; every trial ends once, in its own MLflow run, and nothing finished is trained again."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import yaml

from orchestrator import layout
from orchestrator.errors import UsageError
from orchestrator.process_locks import driver_lock

from .sweep_helpers import (
    SMOKE,
    a_trial_finished,
    assert_all_finished_once,
    assert_marked_interrupted,
    child_runs,
    children_when_ready,
    finished_reports,
    ray_critic_actors,
    ray_trial_workers,
    spec_file,
    steps,
    sweep_command,
    sweep_until,
)

pytestmark = pytest.mark.slow


def test_a_driver_killed_outright_resumes_every_trial_into_its_own_run(tmp_path):
    """The driver killed with SIGKILL (the OOM killer, a lost login node): no handler runs, and Ray
    Tune's experiment state is as old as its last periodic save (up to 10 s), naming checkpoint
    copies Ray Tune has deleted since. Then the storage moves (another node mounts it elsewhere):
    --resume there is one line saying where the sweep started, and writes nothing (it recreated the
    old path with an empty MLflow store, and each trial waited 10 minutes for its run there). With
    the old path linked to it, --resume finishes every trial into its own run, from its own
    checkpoint, without retraining a finished one, and without Ray's traceback for each stale copy
    ("Error handling checkpoint ... FileNotFoundError: Path not found")."""
    first, moved = tmp_path / "first", tmp_path / "moved"
    spec = spec_file(tmp_path, "driver_killed", max_iter=100)

    def second_wave_past_70():
        """The first two trials finished, and one of the next two has run for several of Ray
        Tune's periodic saves (every 10 s here)."""
        ready = children_when_ready(first, "driver_killed")
        if not ready:
            return False
        reached = [steps(ready[0], r, "loss/generator")[-1:] for r in ready[1]]
        return (sum(r.data.tags.get("trial_status") == "finished" for r in ready[1]) >= 2
                and any(step and 70 <= step[0] < 100 for step in reached))

    returncode, _, _ = sweep_until(spec, first, second_wave_past_70, "a trial of the second wave past 70",
                                   lambda process: process.kill())
    assert returncode == -signal.SIGKILL
    deadline = time.time() + 60                  # its trials' workers outlive it by a second or two
    while (ray_trial_workers() or ray_critic_actors()) and time.time() < deadline:
        time.sleep(0.5)
    finished = finished_reports(first, "driver_killed")
    first.rename(moved)
    refused = subprocess.run(sweep_command(spec, moved, "--resume"), capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr[-3000:]
    assert f"sweep 'driver_killed' started in {first}, not {moved}: " in refused.stderr, refused.stderr
    assert refused.stderr.rstrip().endswith(f"or link the old path to it: ln -s {moved} {first})")
    assert not first.exists()
    first.symlink_to(moved)
    resumed = subprocess.run(sweep_command(spec, moved, "--resume"), capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "sweep driver_killed: 4 finished, 0 diverged, 0 stopped early, 0 failed" in resumed.stderr
    assert "Traceback" not in resumed.stderr and " ERROR " not in resumed.stderr, resumed.stderr[-3000:]
    assert_all_finished_once(moved, "driver_killed", 4, 100, finished)
    for trial in (moved / "driver_killed").glob("trial_*"):      # Ray Tune's copies: no more than it keeps
        assert 1 <= len(list(trial.glob("checkpoint_*"))) <= layout.RAY_CHECKPOINTS_KEPT, trial


def test_only_rays_record_of_a_deleted_checkpoint_copy_is_quieted():
    """The filter the test above relies on, record by record: Ray Tune's traceback for a checkpoint
    copy that is gone, and nothing else it logs about checkpoints."""
    import logging

    from orchestrator.sweep import stale_checkpoint_copy

    def record(msg, err):
        return logging.LogRecord("ray.tune.execution.tune_controller", logging.ERROR, "tune_controller.py", 1783,
                                 msg, ("t0", "Checkpoint(...)"), (type(err), err, None) if err else None)

    gone = FileNotFoundError("Path not found: (<LocalFileSystem>, /s/sweep/trial_t0/checkpoint_000013)")
    assert stale_checkpoint_copy(record("Trial %s: Error handling checkpoint %s", gone))
    assert not stale_checkpoint_copy(record("Trial %s: Error handling checkpoint %s", PermissionError("denied")))
    assert not stale_checkpoint_copy(record("Trial %s: Error handling checkpoint %s",
                                            FileNotFoundError("/s/sweep/trial_t0/work/checkpoint/state.pt")))
    assert not stale_checkpoint_copy(record("Trial %s: Error processing event %s", gone))
    assert not stale_checkpoint_copy(record("Trial %s: Error handling checkpoint %s", None))


def saved_as_stopped_early(storage, name, max_iter):
    """A condition for ``sweep_until``: Ray Tune's latest saved experiment state has a trial ended
    before ``max_iter`` (stopped by the scheduler; the first to end may be one that finished) and a
    trial not yet ended (a sweep killed with every trial ended has nothing left to resume)."""
    def stopped():
        saved = sorted((storage / name).glob("experiment_state-*.json"))
        try:
            trials = [(json.loads(trial)["status"], json.loads(metadata)["last_result"])
                      for trial, metadata in (json.loads(saved[-1].read_text())["trial_data"] if saved else [])]
            return (any(status == "TERMINATED" and last[layout.ITERATION] < max_iter for status, last in trials)
                    and any(status != "TERMINATED" for status, _ in trials))
        except (OSError, ValueError, KeyError, TypeError):      # being written, or a trial not yet reported
            return False
    return stopped


def test_a_driver_killed_after_asha_stopped_a_trial_still_ends_its_sweep(tmp_path):
    """ASHA stops trials, Ray Tune saves them as ended, then the driver is killed outright (the OOM
    killer): the stops were in no file of the sweep's, so every --resume said "2 of 8 trials
    unfinished" (exit code 130) and never closed the sweep's run. Each stop also gets its progress
    line (the counts went from "0 done" to "2 done" without a word). Ray Tune's experiment state in
    the storage is cut short before the resume, as a full disk leaves it: the resume takes Ray
    Tune's own staging copy on this node (the driver's), newer than the sweep's kept copy."""
    spec = yaml.safe_load(SMOKE.read_text())
    spec.update(name="asha_killed", scheduler="asha", metric="loss/generator", mode="min",
                independent_critic={"enabled": False}, evaluation={"samples": 0})
    # one trial at a time, the fast learners first: the slow ones reach ASHA's first rung behind
    # them, with a generator loss about 4 times theirs, and are stopped there at iteration 10 (its
    # 2nd checkpoint, which makes Ray Tune save its state at once): the first stop is the 3rd trial,
    # with 5 still to come, about 1 s each. Four at once, whether ASHA stopped any trial hung on
    # which of the first 4 reported first (slow learners first), or the stops came last and every
    # trial had ended before the kill (fast learners first: "nothing to resume", in a CI run).
    spec["grid"]["lr_generator"] = [0.01, 0.002, 0.0005, 0.0001]
    spec["trial"].update(max_iter=60, report_every=5)
    spec["resources"]["cpus"] = 2                # one trial at a time on a 2-core machine (CI, this one)
    path = tmp_path / "asha_killed.yaml"
    path.write_text(yaml.safe_dump(spec))
    returncode, _, stderr = sweep_until(path, tmp_path, saved_as_stopped_early(tmp_path, "asha_killed", 60),
                                        "a trial saved as stopped early", lambda process: process.kill())
    assert returncode == -signal.SIGKILL
    assert re.search(r"_0000\d: stopped early by the scheduler \(ASHA\) at iteration \d+ / 60", stderr), stderr
    deadline = time.time() + 60                  # its trials' workers outlive it by a second or two
    while ray_trial_workers() and time.time() < deadline:
        time.sleep(0.5)
    saved = max((tmp_path / "asha_killed").glob("experiment_state-*.json"))   # and a full disk cut it short
    saved.write_bytes(saved.read_bytes()[:1000])
    resumed = subprocess.run(sweep_command(path, tmp_path, "--resume"), capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (f"sweep asha_killed: Ray Tune's state in {tmp_path / 'asha_killed'} was cut short ({saved.name}: "
            "JSONDecodeError: ") in resumed.stderr, resumed.stderr
    assert "resuming from Ray Tune's staging copy on this node, saved at 20" in resumed.stderr
    stopped = int(re.search(r"sweep asha_killed: \d+ finished, 0 diverged, (\d+) stopped early, 0 failed",
                            resumed.stderr)[1])
    assert stopped >= 1
    _, parents, children = child_runs(tmp_path, "asha_killed")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 8
    assert sorted(run.info.status for run in children).count("KILLED") == stopped
    assert all(run.info.status in ("FINISHED", "KILLED") for run in children)


def test_an_interrupted_optuna_search_resumes_its_samples_and_repeats_no_trial(tmp_path):
    """SIGTERM (kill, `ray job stop`, a scheduler's preemption) in an Optuna search, then --resume.
    SIGTERM takes Ctrl-C's path and more: it becomes Ctrl-C for Ray Tune's own handler
    (test_stop_signals.py). The interrupted runs show as KILLED, not running, until --resume
    reopens them; without --resume the sweep is refused. Optuna's samples after the restore are new
    Ray Tune trials (it creates one at a time), which got a placeholder for their settings and
    failed on every retry until the restore was given the sweep's parameter space. 5 samples over
    the grid's 4 combinations: a sample that repeats one trains with the next seed, before the
    interrupt and after it (the searcher's counts survive the restore). A grid search's resume:
    the driver-killed, full-storage and Slurm tests. Before the resume, Ray Tune's experiment state
    and its searcher's in the storage are cut short, as a disk that fills while Ray Tune copies them
    there leaves them: Ray Tune started every trial afresh then (new trials, new runs); the resume
    now takes the sweep's kept copy of Ray Tune's last save (on another node, as here, where Ray
    Tune's own staging copy is not: the SIGKILLed ASHA sweep's test resumes from that one). A state
    that reads back whole but that Ray Tune cannot restore stops the resume before it starts."""
    spec = yaml.safe_load(SMOKE.read_text())
    spec.update(name="tuned", search="optuna", num_samples=5, metric="critic_neg_w_test", mode="max")
    spec["trial"]["max_iter"] = 40
    path = tmp_path / "tuned.yaml"
    path.write_text(yaml.safe_dump(spec))

    def held_by_it_then_interrupt(process):
        """The running driver holds the sweep's lock (a second driver would be refused), then SIGTERM."""
        with pytest.raises(UsageError, match=rf"is being run by another driver \(pid {process.pid} on "):
            with driver_lock(tmp_path, "tuned"):
                pass
        process.send_signal(signal.SIGTERM)

    returncode, _, stderr = sweep_until(path, tmp_path, a_trial_finished(tmp_path, "tuned"), "a finished trial",
                                        held_by_it_then_interrupt, timeout=300)
    assert returncode == 130, stderr[-3000:]
    assert "--resume" in stderr and "SIGTERM received" not in stderr          # not Ray's C stack dump
    assert "SIGTERM: stopping the sweep as on Ctrl-C" in stderr
    assert "A new study created" not in stderr                     # Optuna's own line: --verbose only
    assert_marked_interrupted(tmp_path, "tuned")
    finished = finished_reports(tmp_path, "tuned")
    assert 1 <= len(finished) < 5
    again = subprocess.run(sweep_command(path, tmp_path), capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "add --resume" in again.stderr
    experiment = tmp_path / "tuned"
    cut = [f for pattern in ("experiment_state-*.json", "searcher-state-*.pkl") for f in experiment.glob(pattern)]
    assert len(cut) == 2, cut
    # Ray Tune's state read as JSON, but not one it can restore from: the resume stops in one line
    # and starts nothing (Ray Tune logged "Restarting experiment" and started every trial afresh)
    whole, runs = cut[0].read_bytes(), len(child_runs(tmp_path, "tuned")[2])
    cut[0].write_text("{}")
    refused = subprocess.run(sweep_command(path, tmp_path, "--resume"), capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert (f"orchestrate sweep: error: --resume: Ray Tune could not read back the sweep's state in {experiment} "
            "(KeyError: 'runner_data') and would have started every trial afresh, so it started none; "
            ) in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and len(child_runs(tmp_path, "tuned")[2]) == runs
    assert_marked_interrupted(tmp_path, "tuned")                # as it was, not reopened as running
    cut[0].write_bytes(whole)
    for state in cut:
        state.write_bytes(state.read_bytes()[:state.stat().st_size // 2])
    other_node = tempfile.mkdtemp(prefix="ray", dir="/tmp")     # short: Ray's socket paths go under it
    try:                                                        # no staging copy of Ray Tune's there
        resumed = subprocess.run(sweep_command(path, tmp_path, "--resume"), capture_output=True, text=True,
                                 timeout=900, env={**os.environ, "RAY_TMPDIR": other_node})
    finally:
        shutil.rmtree(other_node, ignore_errors=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"sweep tuned: Ray Tune's state in {experiment} was cut short (" in resumed.stderr, resumed.stderr
    assert "resuming from the copy kept at 20" in resumed.stderr
    assert f"({layout.tune_state_copy_path(tmp_path, 'tuned')}); the files it replaced are in " in resumed.stderr
    assert {f.name for f in cut} <= {f.name for f in experiment.glob(f"{layout.UNREADABLE_STATE}*/*")}
    assert "sweep tuned: 5 finished, 0 diverged, 0 stopped early, 0 failed" in resumed.stderr, resumed.stderr
    assert "A new study created" not in resumed.stderr
    assert_all_finished_once(tmp_path, "tuned", 5, 40, finished)
    _, _, children = child_runs(tmp_path, "tuned")
    seeds = {}
    for run in children:
        values = (float(run.data.params["lr_generator"]), float(run.data.params["recon_weight_encoder"]))
        seeds.setdefault(values, []).append(int(run.data.params["seed"]))
    assert sum(len(s) for s in seeds.values()) == 5 and len(seeds) <= 4
    assert all(sorted(s) == list(range(len(s))) for s in seeds.values()), seeds
