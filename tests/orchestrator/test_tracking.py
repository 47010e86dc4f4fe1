"""The sweep's SQLite store appears whole: a process that opens it as soon as the file exists never
races the driver's table creation (a CI run lost a sweep to exactly that)."""

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.layout import default_tracking_uri
from orchestrator.tracking import create_sqlite_store

from ..ports import free_port

DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from orchestrator.layout import default_tracking_uri
    from orchestrator.tracking import ensure_experiment
    storage = Path(sys.argv[1])
    print(ensure_experiment(default_tracking_uri(storage), "race", storage))
""")

# what a user's watcher does (`mlflow ui`, a notebook polling the sweep): open the store the moment
# its file exists, and read it
WATCHER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mlflow.tracking import MlflowClient
    from orchestrator.layout import default_tracking_uri
    storage = Path(sys.argv[1])
    while not (storage / "mlflow.db").exists():
        time.sleep(0.001)
    client = MlflowClient(tracking_uri=default_tracking_uri(storage))
    print(len(client.search_experiments()))
""")


def tables(path) -> set[str]:
    import sqlite3

    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_store_is_created_complete_and_left_alone_once_it_exists(tmp_path):
    uri = default_tracking_uri(tmp_path)
    create_sqlite_store(uri, tmp_path / "mlartifacts")
    db = tmp_path / "mlflow.db"
    assert {"experiments", "runs", "metrics", "params", "tags", "alembic_version"} <= tables(db)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]       # no staging file left
    before = db.read_bytes()
    create_sqlite_store(uri, tmp_path / "mlartifacts")
    assert db.read_bytes() == before


def test_other_tracking_uris_are_not_touched(tmp_path):
    create_sqlite_store("http://127.0.0.1:1", tmp_path)
    create_sqlite_store(f"file://{tmp_path}/mlruns", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(2))
def test_a_watcher_opening_the_store_at_once_does_not_break_the_driver(tmp_path, round_):
    watchers = [subprocess.Popen([sys.executable, "-c", WATCHER, str(tmp_path)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    driver = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert driver.returncode == 0, driver.stderr[-3000:]
    for watcher in watchers:
        stdout, stderr = watcher.communicate(timeout=120)
        assert watcher.returncode == 0, stderr[-3000:]
        assert int(stdout) >= 1


def test_ui_of_a_copied_store_says_where_its_artifacts_are_and_how_to_link_them(tmp_path):
    """Results rsynced from a cluster: the store's experiment names the cluster's artifact folder,
    and the MLflow UI listed the runs without a sample grid, saying nothing."""
    import shutil

    from orchestrator.layout import default_tracking_uri
    from orchestrator.tracking import ensure_experiment, moved_artifact_notes

    ensure_experiment(default_tracking_uri(tmp_path / "cluster"), "copied", tmp_path / "cluster")
    (tmp_path / "cluster" / "mlartifacts" / "1").mkdir(parents=True, exist_ok=True)   # a sweep's logged grids
    assert moved_artifact_notes(default_tracking_uri(tmp_path / "cluster")) == []
    shutil.copytree(tmp_path / "cluster", tmp_path / "laptop")
    assert moved_artifact_notes(default_tracking_uri(tmp_path / "laptop")) == []     # the old folder is still there
    shutil.rmtree(tmp_path / "cluster")
    old, new = (tmp_path / "cluster" / "mlartifacts").resolve(), (tmp_path / "laptop" / "mlartifacts").resolve()
    assert moved_artifact_notes(default_tracking_uri(tmp_path / "laptop")) == [
        f"note: the runs' artifacts (sample grids, reports) are named at {old}, which is gone; the UI shows the "
        f"runs without them. To see them: ln -s {new} {old}"]
    assert moved_artifact_notes("http://127.0.0.1:5000") == []                       # a server keeps its own


def sweep_with_trial_runs(storage, name: str, trials: int):
    """A sweep's parent run in a SQLite store under ``storage``, and its trials' runs: the first
    finished, the others running."""
    from orchestrator.tracking import TrialTracker, ensure_experiment, start_sweep_run

    uri = default_tracking_uri(storage)
    experiment = ensure_experiment(uri, name, storage)
    spec = storage / f"{name}.yaml"
    spec.write_text(f"name: {name}\n")
    parent = start_sweep_run(uri, experiment, SimpleNamespace(name=name, search="grid", scheduler="fifo",
                                                              grid={}, path=spec), "", trials)
    trackers = [TrialTracker(uri, experiment, parent, f"{name}_{i}", {"lr": i}) for i in range(trials)]
    trackers[0].finish("finished")
    return uri, experiment, parent, trackers


def test_an_interrupted_sweeps_runs_show_as_killed_until_their_trials_resume(tmp_path):
    """The MLflow UI showed an interrupted sweep's parent run and its open trial runs as running
    (its clock going) for as long as nobody resumed it. Interrupted, they are KILLED with trial
    status ``interrupted``; resumed, the parent and each trial's run as it restores from its
    checkpoint are running again; a run that had ended stays as it was. A run no trial reopens
    (ASHA had stopped it before the interruption) is closed as stopped when the sweep ends."""
    from mlflow.tracking import MlflowClient

    from orchestrator import layout
    from orchestrator.sweep import close_open_runs
    from orchestrator.sweep_state import SweepState
    from orchestrator.tracking import TrialTracker, interrupt_sweep_runs, reopen_sweep_run

    uri, experiment, parent, trackers = sweep_with_trial_runs(tmp_path, "halted", 3)
    interrupt_sweep_runs(uri, experiment, parent)
    client = MlflowClient(uri)

    def state(run_id):
        run = client.get_run(run_id)
        return run.info.status, run.data.tags.get(layout.STATUS_TAG)

    assert client.get_run(parent).info.status == "KILLED"
    assert [state(t.run_id) for t in trackers] == [("FINISHED", "finished")] + [("KILLED", "interrupted")] * 2
    reopen_sweep_run(uri, parent)
    assert client.get_run(parent).info.status == "RUNNING"
    resumed = TrialTracker(uri, experiment, parent, "halted_1", {"lr": 1}, state=trackers[1].state())
    resumed.add({"loss/generator": 1.0}, 10)
    assert resumed.flush()
    assert state(resumed.run_id) == ("RUNNING", "running")
    resumed.finish("finished")
    assert state(resumed.run_id) == ("FINISHED", "finished")
    close_open_runs(SweepState(parent_run_id=parent, tracking_uri=uri, experiment_id=experiment), results=[])
    assert [state(t.run_id) for t in trackers] == [("FINISHED", "finished")] * 2 + [("KILLED", "stopped")]
    client.set_terminated(parent, "FINISHED")
    ended = client.get_run(parent).info.end_time
    reopen_sweep_run(uri, parent)                  # a finished sweep resumed: it ends at once, as it was
    assert (client.get_run(parent).info.status, client.get_run(parent).info.end_time) == ("FINISHED", ended)


def test_only_a_sweep_ended_without_failures_is_resumed_without_ray(tmp_path):
    """A --resume of a sweep whose parent run is FINISHED with counts for all its trials, none
    failed, prints them without starting Ray. Running, interrupted, gone, without counts (ended
    before they were kept) or with a failed trial (--resume retries it): the resume runs as ever."""
    from mlflow.tracking import MlflowClient

    from orchestrator.sweep import ended_before
    from orchestrator.tracking import ended_sweep_counts, finish_sweep_run, interrupt_sweep_runs

    uri, experiment, parent, _ = sweep_with_trial_runs(tmp_path, "ended", 2)
    client = MlflowClient(uri)
    spec = SimpleNamespace(trial_count=2)

    def resumed(run_id):
        return ended_before(spec, SimpleNamespace(state=SimpleNamespace(parent_run_id=run_id), tracking_uri=uri))

    assert ended_sweep_counts(uri, parent) is None and resumed(parent) is None          # running
    client.set_terminated(parent, "FINISHED")
    assert ended_sweep_counts(uri, parent) is None                                      # no counts
    one_failed = {"finished": 1, "diverged": 0, "stopped": 0, "failed": 1}
    finish_sweep_run(uri, parent, one_failed)
    assert ended_sweep_counts(uri, parent) == one_failed and resumed(parent) is None
    time.sleep(0.01)                                                   # the counts' next values: later
    finish_sweep_run(uri, parent, {**one_failed, "failed": 0, "stopped": 1})
    assert resumed(parent) == {"finished": 1, "diverged": 0, "stopped": 1, "failed": 0, "unfinished": 0}
    assert ended_before(SimpleNamespace(trial_count=3), SimpleNamespace(
        state=SimpleNamespace(parent_run_id=parent), tracking_uri=uri)) is None        # a trial unaccounted for
    interrupt_sweep_runs(uri, experiment, parent)
    assert resumed(parent) is None                                                      # KILLED
    assert resumed("0" * 32) is None                                                    # no such run
    assert ended_before(spec, SimpleNamespace(state=None, tracking_uri=uri)) is None    # a new sweep


def test_a_failing_driver_fails_its_sweep_new_or_resumed_and_a_refused_resume_changes_nothing(tmp_path):
    """A resumed sweep whose driver failed stayed RUNNING in the MLflow UI (only a new sweep's
    parent run was closed as FAILED). A driver that fails, new or resumed, closes the parent run as
    FAILED and its open trial runs as interrupted; a full disk leaves them running for --resume; a
    --resume refused before any trial started leaves the parent as it was, end time included."""
    from mlflow.tracking import MlflowClient

    from orchestrator import layout
    from orchestrator.errors import DiskFullError, ResumeRefused
    from orchestrator.sweep import failed_on_error
    from orchestrator.sweep_state import SweepState
    from orchestrator.tracking import TrialTracker, reopen_sweep_run

    uri, experiment, parent, trackers = sweep_with_trial_runs(tmp_path, "broken", 2)
    state = SweepState(parent_run_id=parent, tracking_uri=uri, experiment_id=experiment)
    client = MlflowClient(uri)

    def statuses():
        runs = [client.get_run(t.run_id) for t in trackers]
        return client.get_run(parent).info.status, [(r.info.status, r.data.tags.get(layout.STATUS_TAG)) for r in runs]

    with pytest.raises(DiskFullError), failed_on_error(state, None):
        raise DiskFullError("the disk is full")
    assert statuses() == ("RUNNING", [("FINISHED", "finished"), ("RUNNING", "running")])
    with pytest.raises(RuntimeError), failed_on_error(state, None):
        raise RuntimeError("the driver broke")
    assert statuses() == ("FAILED", [("FINISHED", "finished"), ("KILLED", layout.INTERRUPTED)])
    ended = client.get_run(parent).info.end_time

    was = reopen_sweep_run(uri, parent)
    assert was == "FAILED" and client.get_run(parent).info.status == "RUNNING"
    with pytest.raises(ResumeRefused), failed_on_error(state, was):
        raise ResumeRefused("--resume: Ray Tune could not read back the sweep's state")
    assert statuses() == ("FAILED", [("FINISHED", "finished"), ("KILLED", layout.INTERRUPTED)])
    assert client.get_run(parent).info.end_time == ended

    was = reopen_sweep_run(uri, parent)
    resumed = TrialTracker(uri, experiment, parent, "broken_1", {"lr": 1}, state=trackers[1].state())
    resumed.add({"loss/generator": 1.0}, 10)
    assert resumed.flush()
    assert statuses() == ("RUNNING", [("FINISHED", "finished"), ("RUNNING", "running")])
    with pytest.raises(RuntimeError), failed_on_error(state, was):
        raise RuntimeError("the resumed driver broke")
    assert statuses() == ("FAILED", [("FINISHED", "finished"), ("KILLED", layout.INTERRUPTED)])


def stamp_schema(store, revision: str) -> str:
    """Write ``revision`` as the SQLite store's schema version; the version it had."""
    import sqlite3

    with sqlite3.connect(store) as connection:
        (was,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    return was


def test_a_store_of_another_mlflow_is_one_line_saying_what_to_do(tmp_path):
    """A store written by a newer MLflow (a cluster's image, opened on a laptop with an older one),
    or by an older one whose schema this MLflow does not upgrade by itself: MLflow refused it in a
    traceback from wherever the store was opened first (`orchestrate analyze`, `ui`, `sweep`)."""
    from importlib.resources import files

    import mlflow

    from orchestrator.tracking import check_store_version, ensure_experiment

    uri = default_tracking_uri(tmp_path)
    check_store_version(uri)                                     # no store yet: fine, and none made
    assert not (tmp_path / "mlflow.db").exists()
    check_store_version("http://127.0.0.1:1")                    # a server upgrades its own database
    ensure_experiment(uri, "moved", tmp_path)
    check_store_version(uri)
    head = stamp_schema(tmp_path / "mlflow.db", "0123456789ab")       # each command opens the store afresh
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "ui", "--storage", str(tmp_path), "--port",
                          str(free_port())], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr == (
        f"orchestrate ui: error: the MLflow store {uri} was written by an MLflow newer than this one "
        f"({mlflow.__version__}; its schema 0123456789ab is unknown here): open it with that MLflow (pip install -U "
        "mlflow)\n"), out.stderr
    older = next(entry.name.split("_")[0] for entry in (files("mlflow.store.db_migrations") / "versions").iterdir()
                 if entry.name.endswith(".py") and not entry.name.startswith((head, "_")))
    stamp_schema(tmp_path / "mlflow.db", older)
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "analyze", "moved", "--storage", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    store = tmp_path / "mlflow.db"
    said = (f"orchestrate analyze: error: the MLflow store {uri} was written by an older MLflow (schema {older}; "
            f"MLflow {mlflow.__version__} reads {head}): cp {store} {store}.bak, then upgrade it: ")
    assert out.returncode == 2 and out.stderr.startswith(said), out.stderr
    program = out.stderr.removeprefix(said).removesuffix(f" db upgrade {uri}\n")
    assert os.path.samefile(shutil.which(program), Path(sys.executable).with_name("mlflow")), out.stderr   # this MLflow
    spec = Path(__file__).parents[2] / "search_spaces" / "quickstart.yaml"
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(spec), "--storage",
                          str(tmp_path / "new"), "--tracking-uri", uri], capture_output=True, text=True, timeout=120)
    refused = f"orchestrate sweep: error: the MLflow store {uri} was written by an older MLflow"
    assert out.returncode == 2 and out.stderr.splitlines()[-1].startswith(refused), out.stderr
    assert not (tmp_path / "new").exists()                       # before anything starts
