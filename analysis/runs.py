"""A sweep's runs, read from MLflow into one pandas table: one row per trial (child run), its
hyperparameters, its status and the last value of every metric it logged (by metric key:
``critic_neg_w_test``, ``generator``, whatever section its MLflow name has).

The names a sweep records under are the orchestrator's (``orchestrator.layout``); the caller
hands them in as ``records`` (this package never imports the orchestrator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from .artifacts import RunArtifacts, moved_root
from .errors import AnalysisError


class RecordNames(Protocol):
    """What the analysis needs to know of how a sweep records its runs."""

    STATUS_TAG: str                 # a trial run's status: finished, diverged, stopped, failed
    STOPPED_AT_TAG: str             # the iteration a trial stopped early (ASHA) had reached
    SWEEP_RUN_FILTER: str           # MLflow filter of a sweep's parent runs
    RAY_TRIAL_PARAM: str            # the Ray Tune trial id param (not a hyperparameter)
    SWEEP_TRIALS_PARAM: str         # a sweep's parent run's param: its trial count
    LATENT: str                     # artifact folder of the test images' codes

    def children_filter(self, parent_run_id: str) -> str: ...
    def redact_uri(self, uri: str) -> str: ...            # a tracking URI without its password
    def metric_key(self, name: str) -> str: ...           # MLflow metric name -> metric key
    def metric_names(self, key: str) -> tuple[str, ...]: ...   # metric key -> names it may have
    def sqlite_path(self, uri: str) -> Path | None: ...       # a SQLite store's file (None: another store)

# a trial run's status tag; "interrupted": stopped with its sweep (Ctrl-C, SIGTERM) until --resume
RUNNING = "running"
STATUSES = ("finished", "diverged", "stopped", "failed", RUNNING, "interrupted")
OPEN = (RUNNING, "interrupted")       # not ended: an interrupted sweep's runs are KILLED until resumed


@dataclass
class Sweep:
    name: str                      # the experiment (= the spec's name)
    tracking_uri: str
    parent_run_id: str
    parent_status: str             # RUNNING while the sweep goes on, KILLED once interrupted
    trials: pd.DataFrame           # one row per child run
    records: Any                   # RecordNames
    hyperparameters: list[str] = field(default_factory=list)
    artifacts: RunArtifacts = field(kw_only=True)   # its runs' artifacts, where they are now
    planned: int | None = field(default=None, kw_only=True)   # its trial count, as its parent run records it
    # its runs are open but no driver runs it: its driver marked its runs so (KILLED), or one
    # killed outright left them running (known where its driver's lock file is at hand)
    interrupted: bool = field(default=False, kw_only=True)

    def __post_init__(self):
        self.interrupted = self.interrupted or self.parent_status == "KILLED"

    @property
    def unfinished(self) -> bool:
        return self.parent_status in ("RUNNING", "KILLED") or self.trials["status"].isin(OPEN).any()

    @property
    def running(self) -> bool:
        return self.unfinished and not self.interrupted

    def counts(self) -> dict[str, int]:
        """Trials by status; an interrupted sweep's open trials are ``unfinished``, not running."""
        counts = {s: int((self.trials["status"] == s).sum()) for s in STATUSES}
        if self.interrupted:
            counts["unfinished"] = sum(counts.pop(s) for s in OPEN)
        return counts


def load_sweep(sweep: str, *, tracking_uri: str, records: RecordNames, parent_run_id: str | None = None) -> Sweep:
    """``sweep``: an experiment name or a sweep's parent run id in the store at ``tracking_uri``;
    with ``parent_run_id``, that sweep run of experiment ``sweep`` (else its latest)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        experiment = client.get_experiment_by_name(sweep)
        if experiment is None and parent_run_id is None:
            try:                                        # maybe a parent run id
                run = client.get_run(sweep)
            except MlflowException:
                held = sorted(e.name for e in client.search_experiments() if e.name != "Default")
                raise AnalysisError(f"{sweep!r} is neither a sweep spec, an experiment nor a run id in {tracking_uri} "
                                    f"(its sweeps: {', '.join(held) or 'none yet'})") from None
            parent_run_id, experiment = run.info.run_id, client.get_experiment(run.info.experiment_id)
        if experiment is None:
            raise AnalysisError(f"no experiment {sweep!r} in {tracking_uri}: has the sweep started?")
        if parent_run_id is None:
            parents = client.search_runs([experiment.experiment_id], filter_string=records.SWEEP_RUN_FILTER,
                                         order_by=["attributes.start_time DESC"], max_results=1)
            if not parents:
                raise AnalysisError(f"experiment {experiment.name!r} in {tracking_uri} holds no sweep run")
            parent_run_id = parents[0].info.run_id
        parent = client.get_run(parent_run_id)
        runs = client.search_runs([experiment.experiment_id], filter_string=records.children_filter(parent_run_id),
                                  max_results=50_000)
    except MlflowException as err:
        raise AnalysisError(f"cannot read {tracking_uri}: {str(err).splitlines()[0]}") from None
    artifacts = RunArtifacts(client, moved_root(records.sqlite_path(tracking_uri), experiment.artifact_location))
    planned = parent.data.params.get(records.SWEEP_TRIALS_PARAM)
    return Sweep(experiment.name, tracking_uri, parent_run_id, parent.info.status, *_table(runs, records),
                 artifacts=artifacts, planned=int(planned) if planned and planned.isdigit() else None)


def _table(runs, records: RecordNames) -> tuple[pd.DataFrame, RecordNames, list[str]]:
    rows, hyperparameters = [], []
    for run in runs:
        params = {k: _number(v) for k, v in run.data.params.items() if k != records.RAY_TRIAL_PARAM}
        for key in params:
            if key not in hyperparameters:
                hyperparameters.append(key)
        status = run.data.tags.get(records.STATUS_TAG, RUNNING)
        if run.info.status == "RUNNING":
            status = RUNNING
        metrics = {records.metric_key(name): value for name, value in run.data.metrics.items()}
        stopped_at = run.data.tags.get(records.STOPPED_AT_TAG)
        rows.append({"run_id": run.info.run_id, "trial": run.info.run_name, "status": status,
                     "stopped_at": float(stopped_at) if stopped_at else None, **params, **metrics})
    frame = pd.DataFrame(rows, columns=None if rows else ["run_id", "trial", "status", "model", "dataset"])
    if len(frame):
        frame = frame.sort_values("trial", kind="stable").reset_index(drop=True)
    return frame, records, hyperparameters


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def combine(sweeps: list[Sweep]) -> pd.DataFrame:
    """All sweeps' trials in one table; ``group`` is the model (``alphagan (empirical KL)`` for
    Appendix D's ablation), with the dataset in front when the sweeps cover several datasets
    (models side by side in every table and plot)."""
    frames = [s.trials.assign(sweep=s.name) for s in sweeps]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    several_datasets = frame["dataset"].nunique() > 1
    model = frame["model"].astype(str)
    if "prior_matching" in frame:
        model = model.where(frame["prior_matching"] != "empirical_kl", model + " (empirical KL)")
    frame["group"] = frame["dataset"].astype(str) + "/" + model if several_datasets else model
    return frame
