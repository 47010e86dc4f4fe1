"""`orchestrate sweep`: a spec's trials on Ray Tune, tracked in MLflow."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .specs import SpecError, UsageError
from .sweep_spec import SweepSpec

STATE_FILE = "sweep.json"


def threads(cpus: float) -> int:
    """Torch threads for a CPU share: never more threads than cores reserved (oversubscribed
    OpenMP threads slow CPU training down by orders of magnitude)."""
    return max(1, round(cpus))


def resolve_gpus(value, trials_per_gpu: int, cluster_gpus: float) -> float:
    if value == "auto":
        return round(1.0 / trials_per_gpu, 4) if cluster_gpus > 0 else 0.0
    return float(value)


def resources(spec: SweepSpec, cluster_gpus: float):
    from ray import tune

    trial = {"CPU": spec.cpus, "GPU": resolve_gpus(spec.gpus, spec.trials_per_gpu, cluster_gpus)}
    bundles = [trial]
    critic_gpus = resolve_gpus(spec.critic_gpus, spec.trials_per_gpu, cluster_gpus)
    if spec.critic_enabled:
        bundles.append({"CPU": spec.critic_cpus, "GPU": critic_gpus})
    bundles = [{k: v for k, v in b.items() if v > 0} for b in bundles]
    return tune.PlacementGroupFactory(bundles, strategy="PACK"), critic_gpus


def param_space(spec: SweepSpec, trials: list[dict[str, Any]], settings: dict[str, Any]) -> dict:
    from ray import tune

    if spec.search == "optuna":
        fixed = trials[0]
        return {"hp": {**fixed, **{k: tune.choice(v) for k, v in spec.grid.items()}}, "settings": settings}
    return {"hp": tune.grid_search(spec.tune_trials()), "settings": settings}


def trial_folder_name(trial_id: str) -> str:
    """A trial's folder in the experiment folder (Ray Tune's files and the trial runner's work)."""
    return f"trial_{trial_id}"


def trial_dirname(trial) -> str:
    return trial_folder_name(trial.trial_id)


def tune_config(spec: SweepSpec, max_iter: int):
    from ray import tune

    # actor reuse: a trial's worker process (torch imported, data loaded, critic actor warm) runs
    # the next trial with the same resources; ALPHAGAN_REUSE_ACTORS=0 turns it off (benchmarks)
    reuse = os.environ.get("ALPHAGAN_REUSE_ACTORS", "1") != "0"
    kwargs: dict[str, Any] = {"trial_dirname_creator": trial_dirname,
                              "trial_name_creator": lambda trial: f"{spec.name}_{trial.trial_id}",
                              "reuse_actors": reuse}
    if spec.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        class OptunaOnMetricReports(OptunaSearch):
            """TPE that sees only the reports carrying the metric (the critic's come from halfway)."""

            def on_trial_result(self, trial_id, result):
                if self.metric in result:
                    super().on_trial_result(trial_id, result)

        kwargs.update(search_alg=OptunaOnMetricReports(metric=spec.metric, mode=spec.mode),
                      num_samples=spec.num_samples)
    if spec.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        kwargs["scheduler"] = ASHAScheduler(time_attr="iteration", metric=spec.metric, mode=spec.mode,
                                            max_t=max_iter, grace_period=max(1, max_iter // 8))
    return tune.TuneConfig(**kwargs)


def final_classifier_state(spec: SweepSpec, trials: list[dict[str, Any]], data_root: str | None):
    """The in-domain classifier's weights for the trials' final evaluation, loaded (or trained
    once, here on the driver, rather than by every trial at once); None without one."""
    from trainer import load_dataset
    from trainer.metrics import has_classifier, load_or_train_classifier

    dataset = trials[0]["dataset"]
    if not spec.eval_samples or not has_classifier(dataset):
        return None
    import torch

    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    data = load_dataset(dataset, data_root, log=log)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_or_train_classifier(data, device=device, log=log).state_dict()


def run_sweep(spec: SweepSpec, *, address: str | None, storage: Path, tracking_uri: str | None,
              resume: bool, data_root: str | None) -> int:
    import ray
    from ray import tune

    from . import tracking
    from .progress import ProgressLines
    from .trial_runner import run_trial

    trials = spec.trials()
    storage = storage.resolve()
    experiment_path = storage / spec.name
    restorable = tune.Tuner.can_restore(str(experiment_path))
    if restorable and not resume:
        raise UsageError(f"{experiment_path} already holds sweep {spec.name!r}: add --resume to continue "
                         "it, or pass another --storage to start afresh")
    if resume and not restorable:
        raise UsageError(f"nothing to resume: no sweep {spec.name!r} in {storage} (run it without --resume)")
    storage.mkdir(parents=True, exist_ok=True)
    state_path = storage / f"{spec.name}.{STATE_FILE}"
    uri = tracking_uri or tracking.default_tracking_uri(storage)
    if resume and tracking_uri is None and state_path.is_file():
        uri = json.loads(state_path.read_text())["tracking_uri"]     # the store the trials log to
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # frequent small checkpoints are the point here; Ray warns about them otherwise
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if spec.metric:
        # the critic's metrics exist only from half of max_iter on: ASHA and Optuna act on the
        # results that carry the metric instead of failing on the earlier ones
        os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    # without --address always a new local instance: a bare ray.init() may attach to the last
    # cluster started on this machine (/tmp/ray/ray_current_cluster), even one shutting down
    started = time.perf_counter()
    ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": str(threads(spec.cpus)), **tracking.HTTP_ENV}})
    ray_start_s = time.perf_counter() - started
    try:
        cluster_gpus = ray.cluster_resources().get("GPU", 0.0)
        if any(t.get("cuda_graphs") for t in trials) and resolve_gpus(spec.gpus, spec.trials_per_gpu,
                                                                       cluster_gpus) == 0:
            raise SpecError(f"{spec.path}: trial.cuda_graphs: true needs GPU trials, and this sweep's trials get "
                              f"no GPU (cluster GPUs: {cluster_gpus:g}, resources.gpus: {spec.gpus}); run it on "
                              "GPUs or set cuda_graphs: false")
        experiment_id = tracking.ensure_experiment(uri, spec.name, storage)
        if resume:
            parent = json.loads(state_path.read_text())["parent_run_id"]
        else:
            parent = tracking.start_sweep_run(uri, experiment_id, spec, spec.path.read_text(), len(trials))
            state_path.write_text(json.dumps({"parent_run_id": parent, "tracking_uri": uri,
                                              "experiment_id": experiment_id}) + "\n")
        pgf, critic_gpus = resources(spec, cluster_gpus)
        settings = {"tracking_uri": uri, "experiment_id": experiment_id, "parent_run_id": parent,
                    "data_root": str(Path(data_root).resolve()) if data_root else None,
                    "threads": threads(spec.cpus), "critic_enabled": spec.critic_enabled,
                    "critic_steps": spec.critic_steps_per_report, "critic_cpus": spec.critic_cpus,
                    "critic_gpus": critic_gpus, "eval_samples": spec.eval_samples,
                    "experiment_dir": str(experiment_path),
                    "eval_diversity_pairs": spec.eval_diversity_pairs, "eval_codes": spec.eval_codes}
        classifier = final_classifier_state(spec, trials, settings["data_root"])
        trainable = tune.with_resources(tune.with_parameters(run_trial, classifier_state=classifier), pgf)
        count = spec.num_samples if spec.search == "optuna" else len(trials)
        tune_count = len(spec.tune_trials()) if spec.search == "grid" else count
        fused = f" fused into {tune_count} models" if spec.fuse_trials > 1 else ""
        print(f"sweep {spec.name}: {count} trials{fused} on {'GPUs' if cluster_gpus else 'CPUs'} "
              f"({pgf.bundles}), storage {experiment_path}, tracking {uri}", file=sys.stderr)
        ProgressLines.completed = set()
        if resume:
            tuner = tune.Tuner.restore(str(experiment_path), trainable=trainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            max_iter = max(t["max_iter"] for t in trials)
            tuner = tune.Tuner(trainable, param_space=param_space(spec, trials, settings),
                               tune_config=tune_config(spec, max_iter),
                               run_config=tune.RunConfig(
                                   name=spec.name, storage_path=str(storage), verbose=0,
                                   failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                                   checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                                   callbacks=[ProgressLines(tune_count)]))
        fit_started = time.perf_counter()
        results = tuner.fit()
        print(f"sweep {spec.name}: Ray started in {ray_start_s:.1f} s; trials ran {time.perf_counter() - fit_started:.1f} s",
              file=sys.stderr)
        state = json.loads(state_path.read_text())
        completed = set(state.get("completed_trials", [])) | ProgressLines.completed
        summary = summarize(results, completed)
        state["completed_trials"] = sorted(completed)
        state_path.write_text(json.dumps(state) + "\n")
        unfinished = count - sum(summary.values())
        interrupted = unfinished > 0
        if not interrupted:
            close_open_runs(uri, experiment_id, parent, results)
            tracking.finish_sweep_run(uri, parent, summary)
    finally:
        ray.shutdown()
    if interrupted:
        print(f"sweep {spec.name} interrupted: {unfinished} of {count} trials unfinished; continue with "
              f"orchestrate sweep {spec.path} --resume --storage {storage}", file=sys.stderr)
        return 130
    print(f"sweep {spec.name}: {summary['finished']} finished, {summary['diverged']} diverged, "
          f"{summary['stopped']} stopped early, {summary['failed']} failed", file=sys.stderr)
    print(f"results: MLflow experiment '{spec.name}' at {uri}; Ray Tune files in {experiment_path}")
    grids = "trial_*/work/*/samples" if spec.fuse_trials > 1 else "trial_*/work/samples"
    print(f"sample grids: {experiment_path}/{grids}/ (and as MLflow artifacts)")
    print(f"see them: orchestrate ui --storage {storage}" if tracking_uri is None else
          f"see them: open {uri} in a browser")
    return 0 if summary["failed"] == 0 else 1


def summarize(results, completed: set) -> dict[str, int]:
    """finished / diverged: the trial's final report says so; failed: an error after every retry;
    stopped: completed by Ray (the scheduler, ASHA) before its final report. Trials in none of
    these were interrupted."""
    summary = {"finished": 0, "diverged": 0, "stopped": 0, "failed": 0}
    for result in results:
        metrics = result.metrics or {}
        status = metrics.get("trial_status")
        fused = result.config.get("hp", {}).get("fused") if result.config else None
        if fused is not None:                    # one Ray Tune trial of several fused trials
            if result.error is not None:
                summary["failed"] += len(fused)
            elif status != "interrupted" and metrics.get("fused_statuses"):
                for each in metrics["fused_statuses"].split(","):
                    if each in ("finished", "diverged"):
                        summary[each] += 1
            continue
        if result.error is not None:
            summary["failed"] += 1
        elif status in ("finished", "diverged"):
            summary[status] += 1
        elif metrics.get("trial_id") in completed:
            summary["stopped"] += 1
    return summary


def close_open_runs(uri: str, experiment_id: str, parent: str, results) -> None:
    """Child runs left open by trials that failed for good (closed as failed) or that the
    scheduler stopped early (closed as stopped)."""
    from mlflow.tracking import MlflowClient

    failed = {result.metrics.get("trial_id") for result in results if result.error is not None and result.metrics}
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    for run in runs:
        if run.info.status != "RUNNING":
            continue
        status = "failed" if run.data.params.get("ray_trial_id") in failed else "stopped"
        client.set_tag(run.info.run_id, "trial_status", status)
        client.set_terminated(run.info.run_id, "FAILED" if status == "failed" else "KILLED")
