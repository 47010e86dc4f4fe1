"""Helpers of the sweep tests: run a sweep as a user does (the CLI in a subprocess), watch its
MLflow store, act on it, and find its Ray processes."""

import subprocess
import sys
import time
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from orchestrator import layout

from ..processes import command_line, parent, processes

SMOKE = Path(__file__).resolve().parents[2] / "search_spaces" / "smoke.yaml"


def first_axis_only(spec):
    """Cut a spec's grid to its first axis, fixing the other axes at their first value (in the
    spec's trial settings); returns the spec."""
    _, *others = spec["grid"]
    spec["trial"].update({axis: spec["grid"].pop(axis)[0] for axis in others})
    return spec


def spec_file(folder, name, resources=None, one_wave=False, **trial):
    """The smoke spec under another name, with these trial settings and resources. ``one_wave``
    keeps only the grid's first axis (``first_axis_only``): 2 trials, which run at once on 2 CPUs,
    where the test needs no second wave."""
    spec = yaml.safe_load(SMOKE.read_text())
    spec["name"] = name
    spec["trial"].update(trial)
    spec["resources"].update(resources or {})
    if one_wave:
        first_axis_only(spec)
    path = folder / f"{name}.yaml"
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


def a_trial_finished(storage, name):
    """A condition for ``sweep_until``: a trial of sweep ``name`` has finished."""
    def finished():
        ready = children_when_ready(storage, name)
        return bool(ready and any(r.data.tags.get("trial_status") == "finished" for r in ready[1]))
    return finished


def steps(client, run, key):
    return [m.step for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def finished_reports(storage, name):
    """Run id -> its number of generator-loss reports, for each trial run of sweep ``name`` that
    has finished."""
    client, _, runs = child_runs(storage, name)
    return {r.info.run_id: len(client.get_metric_history(r.info.run_id, "loss/generator"))
            for r in runs if r.data.tags.get("trial_status") == "finished"}


def assert_all_finished_once(storage, name, trials, max_iter, finished_before):
    """Every trial of the ended sweep finished into its own run with each report (every 5 steps),
    and those ``finished_before`` (``finished_reports`` of the interrupted sweep) were not trained again."""
    client, parents, children = child_runs(storage, name)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == trials
    for run in children:
        assert run.data.tags["trial_status"] == "finished" and run.info.status == "FINISHED"
        assert set(steps(client, run, "loss/generator")) == set(range(5, max_iter + 1, 5))
        if run.info.run_id in finished_before:
            assert len(client.get_metric_history(run.info.run_id, "loss/generator")) == finished_before[run.info.run_id]


def assert_marked_interrupted(storage, name):
    """The parent run and every trial run not ended are KILLED, trial status interrupted."""
    _, parents, children = child_runs(storage, name)
    assert [p.info.status for p in parents] == ["KILLED"]
    states = {(run.info.status, run.data.tags[layout.STATUS_TAG]) for run in children}
    assert states <= {("FINISHED", "finished"), ("KILLED", layout.INTERRUPTED)}, states


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


def _ray_processes(match):
    return processes(lambda proc: (args := command_line(proc)).startswith("ray::") and match(args))


def ray_trial_workers():
    """PIDs of the Ray worker processes running a trial function (not its critic actor)."""
    return _ray_processes(lambda cmdline: "run_trial" in cmdline or "ImplicitFunc" in cmdline)


def ray_critic_actors():
    """PIDs of the independent critics' actor processes."""
    return _ray_processes(lambda cmdline: "IndependentCriticActor" in cmdline)


def children_named(pid, name):
    """PIDs of the child processes of ``pid`` whose command is ``name``."""
    return processes(lambda proc: (proc / "comm").read_text().strip() == name and parent(proc) == pid)
