"""MLflow tracking: one parent run per sweep (created by the driver), one child run per trial.

A trial keeps its child run id in its checkpoint, so a retried or resumed trial continues its
own run. Metrics are buffered and flushed at every report; when the tracking server cannot be
reached they stay in the buffer (which is part of the checkpoint) and go out with a later flush,
so an outage loses no metric.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import layout
from .empty_store import build_store
from .errors import UsageError
from .wording import mlflow_command

TRACKING_URI_ENV = "ALPHAGAN_TRACKING_URI"    # the real tracking URI, to the trials by their environment
SERVER_WAIT_S = 300.0          # how long a trial waits for an unreachable tracking server to return
# MLflow's HTTP client retries for minutes by default; trials buffer instead, so fail fast
HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


class TrackingUnreachable(RuntimeError):
    """A trial's node cannot reach the sweep's tracking server: its name does not resolve there,
    or it did not answer for SERVER_WAIT_S. No retry on the same cluster fixes that."""


def check_resolvable(uri: str, node: str | None) -> None:
    """A server's host name must resolve on the trial's node (``http://mlflow:5000`` resolves only
    on the Compose network of the head's machine); a trial that cannot resolve it fails at once."""
    host = urlsplit(uri).hostname
    if not host or urlsplit(uri).scheme.split("+")[0] in ("sqlite", "file"):
        return
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as err:
        raise TrackingUnreachable(
            f"the trial on node {node or socket.gethostname()} ({socket.gethostname()}) cannot resolve the tracking "
            f"server {layout.redact_uri(uri)} ({err.strerror}); give the sweep a --tracking-uri every node reaches, "
            "e.g. http://<head machine's address>:5000") from None


def trial_tracking_uri(recorded: str) -> str:
    """The tracking URI a trial logs to: the one in its settings, which has no password, or the
    real one the driver put in the trials' environment."""
    real = os.environ.get(TRACKING_URI_ENV)
    return real if real and layout.redact_uri(real) == recorded else recorded


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parents[1]).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    result = {"python": sys.version.split()[0]}
    for name in ("torch", "torchvision", "ray", "mlflow", "optuna", "alphagan-sweeps"):
        try:
            result[name] = version(name)
        except PackageNotFoundError:
            pass
    return result


def create_sqlite_store(uri: str, artifact_root: Path) -> None:
    """Create a missing SQLite store whole, so no other process ever opens it half-made.

    MLflow creates its tables the first time any client opens a store, without a lock; a second
    process (``mlflow ui``, ``orchestrate analyze``, a script watching the sweep) opening the
    file while the first is still migrating it makes both run the migrations and one of them
    fail. The store is built under a private name and linked into place when complete.
    """
    path = layout.sqlite_path(uri)
    if path is None or path.exists():
        return
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.creating")
    staging.unlink(missing_ok=True)
    try:
        build_store(staging, lambda store: SqlAlchemyStore(f"sqlite:///{store}",
                                                           artifact_root.resolve().as_uri()).engine.dispose())
        try:
            os.link(staging, path)          # fails if another process linked its store first
        except FileExistsError:
            pass
    finally:
        staging.unlink(missing_ok=True)


DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")     # stores MLflow keeps a schema version in
OTHER_SCHEMA = re.compile(r"Detected out-of-date database schema \(found version (\w+), but expected (\w+)\)")


def check_store_version(uri: str) -> None:
    """A database store whose schema is another MLflow's (results copied from a cluster, an MLflow
    upgraded since the sweep ran) as one line saying how to upgrade it; MLflow refused it in a
    traceback from wherever the store was first opened. A SQLite file not made yet is fine."""
    if urlsplit(uri).scheme.split("+")[0] not in DATABASE_SCHEMES:
        return                           # a tracking server upgrades its own database
    store = layout.sqlite_path(uri)
    if store is not None and not store.is_file():
        return
    from mlflow.exceptions import MlflowException

    try:
        _client(uri).search_experiments(max_results=1)
    except MlflowException as err:
        found = OTHER_SCHEMA.search(str(err))
        if found is None:
            raise
        raise UsageError(store_version_line(uri, *found.groups())) from None


def store_version_line(uri: str, found: str, expected: str) -> str:
    """What to do with a store of schema ``found`` where this MLflow reads ``expected``."""
    import mlflow

    shown = layout.redact_uri(uri)
    store = layout.sqlite_path(uri)
    backup = f"cp {shlex.quote(str(store))} {shlex.quote(str(store) + '.bak')}" if store else "back it up"
    upgrade = mlflow_command("db", "upgrade", uri) if shown == uri else "mlflow db upgrade <its URI, with its password>"
    if not known_schema(found):
        return (f"the MLflow store {shown} was written by an MLflow newer than this one ({mlflow.__version__}; "
                f"its schema {found} is unknown here): open it with that MLflow (pip install -U mlflow)")
    return (f"the MLflow store {shown} was written by an older MLflow (schema {found}; MLflow {mlflow.__version__} "
            f"reads {expected}): {backup}, then upgrade it: {upgrade}")


def known_schema(revision: str) -> bool:
    """Whether ``revision`` is one of this MLflow's database migrations (an older schema it can
    upgrade from), as its migration files are named; unknown where they cannot be listed."""
    from importlib.resources import files

    try:
        versions = files("mlflow.store.db_migrations") / "versions"
        return any(entry.name.startswith(f"{revision}_") for entry in versions.iterdir())
    except (ModuleNotFoundError, OSError):
        return True


def ensure_experiment(uri: str, name: str, storage: Path) -> str:
    """The experiment's id, creating it (and a fresh SQLite store) once, from the driver. It is
    tagged as a model-training experiment, so the MLflow UI opens it on its runs (not on the
    GenAI traces overview)."""
    create_sqlite_store(uri, storage / layout.ARTIFACTS)
    client = _client(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        experiment_id = experiment.experiment_id
        if experiment.tags.get(layout.EXPERIMENT_KIND_TAG) != layout.EXPERIMENT_KIND:
            client.set_experiment_tag(experiment_id, layout.EXPERIMENT_KIND_TAG, layout.EXPERIMENT_KIND)
        return experiment_id
    artifacts = None
    if uri.startswith("sqlite:") or uri.startswith("file:") or "://" not in uri:
        artifacts = (storage / layout.ARTIFACTS).resolve().as_uri()
    return client.create_experiment(name, artifact_location=artifacts,
                                    tags={layout.EXPERIMENT_KIND_TAG: layout.EXPERIMENT_KIND})


def moved_artifact_notes(uri: str) -> list[str]:
    """For a SQLite store copied or moved to another folder: a line per artifact folder its
    experiments name that is gone while one of its name lies beside the store (the MLflow UI then
    lists the runs without their sample grids and reports)."""
    from analysis.artifacts import local_path, moved_root

    store = layout.sqlite_path(uri)
    if store is None:
        return []
    moved = {moved_root(store, e.artifact_location) for e in _client(uri).search_experiments()} - {None}
    links = [(local_path(old), shlex.join(["ln", "-s", str(local_path(new)), str(local_path(old))]))
             for old, new in sorted(moved)]
    return [f"note: the runs' artifacts (sample grids, reports) are named at {old}, which is gone; the UI shows the "
            f"runs without them. To see them: {link}" for old, link in links]


def start_sweep_run(uri: str, experiment_id: str, spec, spec_text: str, trial_count: int) -> str:
    client = _client(uri)
    run = client.create_run(experiment_id, run_name=f"sweep {spec.name}",
                            tags={layout.KIND_TAG: layout.SWEEP_KIND, layout.GIT_COMMIT_TAG: git_commit()})
    params = {"spec": spec.name, "search": spec.search, "scheduler": spec.scheduler,
              layout.SWEEP_TRIALS_PARAM: trial_count, "grid": ", ".join(f"{k}={v}" for k, v in spec.grid.items()),
              **{f"version.{k}": v for k, v in package_versions().items()}}
    from mlflow.entities import Param

    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    client.log_text(run.info.run_id, spec_text, f"spec/{spec.path.name}")
    return run.info.run_id


def trial_runs(client, experiment_id: str, parent_run_id: str) -> list:
    """A sweep's trial runs: every child run of its parent run."""
    return client.search_runs([experiment_id], filter_string=layout.children_filter(parent_run_id),
                              max_results=layout.RUNS_SEARCHED)


def interrupt_sweep_runs(uri: str, experiment_id: str, run_id: str, parent_status: str = "KILLED") -> None:
    """An interrupted sweep's parent run (KILLED; FAILED where the driver failed) and its open
    trial runs as KILLED (trial status ``interrupted``), not running, in the MLflow UI until
    --resume reopens them; best effort."""
    try:
        client = _client(uri)
        for run in trial_runs(client, experiment_id, run_id):
            if run.info.status == "RUNNING":
                client.set_tag(run.info.run_id, layout.STATUS_TAG, layout.INTERRUPTED)
                client.set_terminated(run.info.run_id, run_status(layout.INTERRUPTED))
        client.set_terminated(run_id, parent_status)
    except Exception as err:  # noqa: BLE001 - the interruption's own line is the one to show
        print(f"mlflow: could not mark the sweep's runs {'interrupted' if parent_status == 'KILLED' else 'failed'} "
              f"({type(err).__name__}); they show as running", file=sys.stderr)


def reopen_sweep_run(uri: str, run_id: str) -> str:
    """A resumed sweep's parent run: RUNNING again (its trial runs reopen as their trials resume),
    unless the sweep had finished (resumed, it finds every trial done and ends at once). Returns
    the status it had."""
    client = _client(uri)
    was = client.get_run(run_id).info.status
    if was != "FINISHED":
        client.update_run(run_id, "RUNNING")
    return was


def restore_sweep_run(uri: str, run_id: str, was: str) -> None:
    """A resumed sweep's parent run back to the status ``was`` it had before --resume reopened it
    (a resume refused before any trial started); best effort."""
    try:
        client = _client(uri)
        if client.get_run(run_id).info.status != was:
            client.update_run(run_id, was)
    except Exception as err:  # noqa: BLE001 - the refusal's own line is the one to show
        print(f"mlflow: could not set the sweep run back to {was} ({type(err).__name__})", file=sys.stderr)


def finish_sweep_run(uri: str, run_id: str, summary: dict[str, Any]) -> None:
    client = _client(uri)
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(layout.trials_metric(k), float(v), now, 0)
                                      for k, v in summary.items()])
    client.set_terminated(run_id, "FINISHED")


def ended_sweep_counts(uri: str, run_id: str) -> dict[str, int] | None:
    """The trial counts a finished sweep's parent run holds (finish_sweep_run's), or None where the
    run is not FINISHED (reopened by a --resume, interrupted, failed) or lacks one of them."""
    from mlflow.exceptions import MlflowException

    try:
        run = _client(uri).get_run(run_id)
    except MlflowException:              # e.g. deleted: the resume's own path says what is wrong
        return None
    counts = {k: run.data.metrics.get(layout.trials_metric(k)) for k in layout.SWEEP_ENDINGS}
    if run.info.status != "FINISHED" or None in counts.values():
        return None
    return {k: int(v) for k, v in counts.items()}


class TrialTracker:
    """A trial's child run. ``state()`` / ``restore()`` travel in the trial's checkpoint."""

    def __init__(self, uri: str, experiment_id: str, parent_run_id: str, trial_name: str,
                 hyperparameters: dict[str, Any], state: dict | None = None, node: str | None = None,
                 tags: dict[str, str] | None = None):
        self.uri = uri
        self.pending_metrics: list[tuple[str, float, int, int]] = []
        self.pending_artifacts: list[tuple[str, str]] = []
        self.pending_tags: dict[str, str] = {}
        self.nodes: list[str] = []
        self.reopened = state is None              # a run from a checkpoint shows as running at the next flush
        if state is not None:
            self.run_id = state["run_id"]
            self.pending_metrics = [tuple(m) for m in state["pending_metrics"]]
            self.pending_artifacts = [tuple(a) for a in state["pending_artifacts"]]
            self.pending_tags = dict(state.get("pending_tags", {}))
            self.nodes = list(state.get("nodes", []))
            self.pending_tags[layout.STATUS_TAG] = layout.RUNNING     # it was interrupted, maybe
        else:
            check_resolvable(uri, node)
            client = _client(uri)
            # a new trial may start while the tracking server is away: wait for it (minutes)
            try:
                run = _retry_for(SERVER_WAIT_S, lambda: client.create_run(
                    experiment_id, run_name=trial_name,
                    tags={layout.PARENT_TAG: parent_run_id, layout.KIND_TAG: layout.TRIAL_KIND,
                          layout.STATUS_TAG: layout.RUNNING, **(tags or {})}))
            except Exception as err:  # noqa: BLE001
                raise TrackingUnreachable(
                    f"the trial on node {node} ({socket.gethostname()}) could not reach the tracking server "
                    f"{layout.redact_uri(uri)} for {SERVER_WAIT_S:.0f} s ({type(err).__name__}); check that "
                    "every node reaches it") from None
            self.run_id = run.info.run_id
            from mlflow.entities import Param

            _retry_for(SERVER_WAIT_S, lambda: client.log_batch(
                self.run_id, params=[Param(k, str(v)) for k, v in sorted(hyperparameters.items())]))
        if node is not None:
            # where the trial ran: the current Ray node, and every node it ran on (retries move it)
            if not self.nodes or self.nodes[-1] != node:
                self.nodes.append(node)
            self.pending_tags.update({layout.NODE_TAG: node, layout.NODES_TAG: ",".join(self.nodes)})

    def state(self) -> dict:
        return {"run_id": self.run_id, "pending_metrics": list(self.pending_metrics),
                "pending_artifacts": list(self.pending_artifacts), "pending_tags": dict(self.pending_tags),
                "nodes": list(self.nodes)}

    def tag(self, key: str, value: str) -> None:
        """Set a tag on the run with the next flush."""
        self.pending_tags[key] = value[:5000]

    def log_text(self, text: str, name: str) -> None:
        """A text file in the run's artifacts, now (retried while the server is away)."""
        client = _client(self.uri)
        _retry_for(SERVER_WAIT_S, lambda: client.log_text(self.run_id, text, name))

    def add(self, metrics: dict[str, float], step: int, artifacts: dict[str, Path] | None = None,
            folder: str = layout.SAMPLES) -> None:
        """Buffer metrics at ``step`` and files for the run's artifact ``folder``."""
        now = int(time.time() * 1000)
        self.pending_metrics += [(k, float(v), now, step) for k, v in metrics.items()]
        self.pending_artifacts += [(str(p), folder) for p in (artifacts or {}).values()]

    def flush(self, attempts: int = 3) -> bool:
        """Send what is buffered; False (keeping the buffer) when the server is unreachable."""
        from mlflow.entities import Metric

        client = _client(self.uri)
        try:
            if not self.reopened:               # a resumed or retried trial: RUNNING again, as MLflow resumes runs
                _retry(client.update_run, self.run_id, "RUNNING", attempts=attempts)
                self.reopened = True
            for key, value in list(self.pending_tags.items()):
                _retry(client.set_tag, self.run_id, key, value, attempts=attempts)
                del self.pending_tags[key]
            while self.pending_metrics:
                batch = self.pending_metrics[:900]
                _retry(client.log_batch, self.run_id, [Metric(*m) for m in batch], attempts=attempts)
                del self.pending_metrics[:len(batch)]
            while self.pending_artifacts:
                path, folder = self.pending_artifacts[0]
                if os.path.exists(path):
                    _retry(client.log_artifact, self.run_id, path, folder, attempts=attempts)
                self.pending_artifacts.pop(0)
        except Exception as err:  # noqa: BLE001 - any tracking failure: keep the buffer, go on
            print(f"mlflow: cannot reach {self.uri} ({type(err).__name__}); "
                  f"{len(self.pending_metrics)} metrics kept for the next report", file=sys.stderr)
            return False
        return True

    def finish(self, status: str, message: str = "", wait_s: float = SERVER_WAIT_S) -> None:
        """Flush everything (retrying while the server is away) and close the run."""
        deadline = time.time() + wait_s
        while not self.flush() and time.time() < deadline:
            time.sleep(5)
        client = _client(self.uri)
        _retry_for(wait_s, lambda: client.set_tag(self.run_id, layout.STATUS_TAG, status))
        if message:
            _retry_for(wait_s, lambda: client.set_tag(self.run_id, layout.MESSAGE_TAG, message[:5000]))
        _retry_for(wait_s, lambda: client.set_terminated(self.run_id, run_status(status)))


def run_status(status: str) -> str:
    """The MLflow status of a trial run that ended with ``status``."""
    return ("FINISHED" if status in ("finished", "diverged") else
            "KILLED" if status in (layout.INTERRUPTED, layout.STOPPED) else "FAILED")


def _retry(call, *args, attempts: int = 5, delay: float = 0.5):
    """``call(*args)``, retried: SQLite stores answer 'database is locked' under concurrent
    writers; servers go away."""
    for attempt in range(attempts):
        try:
            return call(*args)
        except Exception:  # noqa: BLE001
            if attempt == attempts - 1:
                raise
            time.sleep(delay * (2 ** attempt))


def _retry_for(seconds: float, call, delay: float = 2.0):
    """Retry ``call`` until it succeeds or ``seconds`` have passed (then raise its error)."""
    deadline = time.time() + seconds
    while True:
        try:
            return _retry(call, attempts=3)
        except Exception as err:  # noqa: BLE001
            if time.time() + delay > deadline:
                raise
            print(f"mlflow: {type(err).__name__} from the tracking server; retrying for up to "
                  f"{deadline - time.time():.0f} s", file=sys.stderr)
            time.sleep(delay)
