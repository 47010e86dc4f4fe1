"""A sweep's runs, read from MLflow into one pandas table: one row per trial (child run), its
hyperparameters, its status and the last value of every metric it logged."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import AnalysisError

STATUSES = ("finished", "diverged", "stopped", "failed", "running")


@dataclass
class Sweep:
    name: str                      # the experiment (= the spec's name)
    tracking_uri: str
    parent_run_id: str
    parent_status: str             # RUNNING while the sweep goes on
    trials: pd.DataFrame           # one row per child run
    hyperparameters: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.parent_status == "RUNNING" or (self.trials["status"] == "running").any()

    def counts(self) -> dict[str, int]:
        return {s: int((self.trials["status"] == s).sum()) for s in STATUSES}


def _tracking_for_spec(spec_path: Path, storage: Path, tracking_uri: str | None) -> tuple[str, str, str | None]:
    """(experiment name, tracking URI, parent run id or None) of a spec run with ``--storage``."""
    from orchestrator.sweep_spec import load_sweep_spec

    spec = load_sweep_spec(spec_path)
    state_path = storage / f"{spec.name}.sweep.json"
    if state_path.is_file():
        state = json.loads(state_path.read_text())
        return spec.name, tracking_uri or state["tracking_uri"], state["parent_run_id"]
    if tracking_uri is None:
        raise AnalysisError(f"no sweep {spec.name!r} in {storage}: pass the --storage the sweep ran with, "
                            "or --tracking-uri of its MLflow server")
    return spec.name, tracking_uri, None


def _default_uri(storage: Path) -> str:
    db = storage / "mlflow.db"
    if not db.is_file():
        raise AnalysisError(f"no MLflow store in {storage}: pass --storage (the sweep's) or --tracking-uri")
    return f"sqlite:///{db.resolve()}"


def load_sweep(sweep: str, *, storage: Path, tracking_uri: str | None = None) -> Sweep:
    """``sweep``: a spec file, an experiment name, or a sweep's parent run id."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    parent_id = None
    if sweep.endswith((".yaml", ".yml")) or Path(sweep).is_file():
        if not Path(sweep).is_file():
            raise AnalysisError(f"no spec file {sweep}")
        name, uri, parent_id = _tracking_for_spec(Path(sweep), storage, tracking_uri)
    else:
        name, uri = sweep, tracking_uri or _default_uri(storage)
    client = MlflowClient(tracking_uri=uri)
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None and parent_id is None:
            try:                                        # maybe a parent run id
                run = client.get_run(sweep)
            except MlflowException:
                raise AnalysisError(f"{sweep!r} is neither a sweep spec, an experiment nor a run id in "
                                    f"{uri}") from None
            parent_id, experiment = run.info.run_id, client.get_experiment(run.info.experiment_id)
        if experiment is None:
            raise AnalysisError(f"no experiment {name!r} in {uri}: has the sweep started?")
        if parent_id is None:
            parents = client.search_runs([experiment.experiment_id], filter_string="tags.kind = 'sweep'",
                                         order_by=["attributes.start_time DESC"], max_results=1)
            if not parents:
                raise AnalysisError(f"experiment {experiment.name!r} in {uri} holds no sweep run")
            parent_id = parents[0].info.run_id
        parent = client.get_run(parent_id)
        runs = client.search_runs([experiment.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent_id}'", max_results=50_000)
    except MlflowException as err:
        raise AnalysisError(f"cannot read {uri}: {str(err).splitlines()[0]}") from None
    return Sweep(experiment.name, uri, parent_id, parent.info.status, *_table(runs))


def _table(runs) -> tuple[pd.DataFrame, list[str]]:
    rows, hyperparameters = [], []
    for run in runs:
        params = {k: _number(v) for k, v in run.data.params.items() if k != "ray_trial_id"}
        for key in params:
            if key not in hyperparameters:
                hyperparameters.append(key)
        status = run.data.tags.get("trial_status", "running")
        if run.info.status == "RUNNING":
            status = "running"
        rows.append({"run_id": run.info.run_id, "trial": run.info.run_name, "status": status,
                     **params, **run.data.metrics})
    frame = pd.DataFrame(rows, columns=None if rows else ["run_id", "trial", "status", "model", "dataset"])
    if len(frame):
        frame = frame.sort_values("trial", kind="stable").reset_index(drop=True)
    return frame, hyperparameters


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def combine(sweeps: list[Sweep]) -> pd.DataFrame:
    """All sweeps' trials in one table; ``group`` is the model, with the dataset in front when the
    sweeps cover several datasets (models side by side in every table and plot)."""
    frames = [s.trials.assign(sweep=s.name) for s in sweeps]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    several_datasets = frame["dataset"].nunique() > 1
    frame["group"] = (frame["dataset"].astype(str) + "/" + frame["model"].astype(str) if several_datasets
                      else frame["model"].astype(str))
    return frame
