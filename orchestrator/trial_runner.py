"""The Ray Tune trial functions: one trial (``run_trial``), or several trials of one architecture
fused into one model (``run_fused_trials``). Each trial trains with ``trainer``, beside its
``TrialHarness`` (MLflow child run, independent critic, final evaluation)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from trainer import ConfigError, DatasetError, TrialConfig, train
from trainer.checkpoint import CheckpointError, CheckpointStore
from trainer.fused_loop import train_fused

from . import layout
from .settings import FusedGroup, TrialSettings, trial_members
from .tracking import TrackingUnreachable
from .trial_harness import TrialHarness, restore_checkpoint_folder
from .worker_data import trial_data
from .writable import disk_full_as_one_line

# Errors no retry can fix (data missing on this node, a bad setting, an unreadable checkpoint):
# the trial ends failed at once, its message in its MLflow run; Ray retries only crashes.
NOT_RETRIED = (DatasetError, ConfigError, CheckpointError)


def _log(message: str) -> None:
    print(message, flush=True)


def storage_full_as_one_line(settings: TrialSettings):
    """A disk that fills while the trial writes, as one line in the trial's error. Not an error
    for good: Ray retries the trial from its last checkpoint (whole: written atomically), as
    --resume does once there is space."""
    return disk_full_as_one_line(Path(settings.experiment_dir), f"the sweep's storage {settings.experiment_dir} "
                                 f"(node {ray.util.get_node_ip_address()})", "free space there; the trial's "
                                 "last checkpoint is kept, and Ray's retry or --resume continues from it")


def trial_setup(hps: tuple[dict, ...], settings: TrialSettings):
    """What every Ray Tune trial function starts with: torch threads, the trial configs on this
    worker's device, and the trial's own work folder on the sweep's storage (every node mounts it).
    Not get_trial_dir(): with actor reuse that is a local working folder, and it can be the
    previous trial's."""
    torch.set_num_threads(settings.threads)
    device = settings.device if settings.device != "auto" else ("cuda" if ray.get_gpu_ids() else "cpu")
    cfgs = [TrialConfig.from_dict({**hp, "device": device, "data_root": settings.data_root},
                                  source="sweep trial") for hp in hps]
    context = tune.get_context()
    work = layout.trial_work_dir(Path(settings.experiment_dir), context.get_trial_id())
    return cfgs, context, work


def ended(status: str, iteration: int, started_at: float, **more: Any) -> dict[str, Any]:
    """A Ray Tune trial's last report."""
    return {layout.STATUS_TAG: status, layout.ITERATION: iteration, "trial_started_at": started_at,
            "trial_ended_at": time.time(), **more}


def failed_for_good(harnesses: list[TrialHarness], err: BaseException, started_at: float) -> None:
    """End the Ray Tune trial without a retry: each trial's run failed with the message, and one
    last report that the driver prints once."""
    messages = [harness.fail(err) for harness in harnesses]
    tune.report(ended(layout.FAILED, 0, started_at, **{layout.TRIAL_ERROR: messages[0],
                      layout.FUSED_STATUSES: ",".join([layout.FAILED] * len(harnesses))}))


def unreachable_tracking(err: TrackingUnreachable, started_at: float, trials: int = 1) -> None:
    """End the Ray Tune trial without a retry when its node cannot reach the tracking server
    (there is no run to write the message to): one line, printed once by the driver."""
    _log(str(err))
    tune.report(ended(layout.FAILED, 0, started_at, **{layout.TRIAL_ERROR: str(err),
                      layout.FUSED_STATUSES: ",".join([layout.FAILED] * trials)}))


def report_to_tune(metrics: dict[str, Any], checkpoint: Path | None) -> None:
    """One Ray Tune report, with the checkpoint folder when a checkpoint was written."""
    if checkpoint is not None:
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint)))
    else:
        tune.report(metrics)


def run_trial(config: dict[str, Any], classifier_state: dict | None = None) -> None:
    """The Ray Tune function trainable. ``config = {"hp": hyperparameters or a FusedGroup,
    "settings": TrialSettings}``; ``classifier_state``: the in-domain classifier for the final
    evaluation (from the driver)."""
    if isinstance(config["hp"], FusedGroup):
        return run_fused_trials(config, classifier_state)
    started_at = time.time()
    settings: TrialSettings = config["settings"]
    (cfg,), context, work = trial_setup(trial_members(config["hp"]), settings)
    checkpoint_dir = work / layout.CHECKPOINT
    restore_checkpoint_folder(checkpoint_dir, CheckpointStore(checkpoint_dir).exists())
    try:
        harness = TrialHarness(cfg, settings, work, checkpoint_dir, context.get_trial_name(),
                               context.get_trial_id(), ray.get_runtime_context().get_node_id(), None,
                               classifier_state, _log)
    except TrackingUnreachable as err:
        return unreachable_tracking(err, started_at)

    def report(rep) -> None:
        harness.tracker.flush()
        # the last report goes to Ray Tune with the trial's end, after its final evaluation and
        # its run are complete: a scheduler acting on it cannot cut a finished trial short
        if rep.iteration < cfg.max_iter:
            report_to_tune({**rep.metrics, layout.ITERATION: rep.iteration},
                           checkpoint_dir if rep.checkpoint is not None else None)

    try:
        harness.data = trial_data(cfg, _log)
        harness.start_critic()
        with storage_full_as_one_line(settings):
            result = train(cfg, report, checkpoint_dir, data=harness.data, sample_dir=harness.sample_dir,
                           evaluate=harness.evaluate, extra_state=harness.extra_state, log=_log)
    except NOT_RETRIED as err:
        return failed_for_good([harness], err, started_at)
    except BaseException:
        harness.stop_critic(keep=False)
        raise
    harness.stop_critic(keep=True)
    with storage_full_as_one_line(settings):
        harness.end(result)
        report_to_tune({**result.metrics, **ended(result.status, result.iteration, started_at)},
                       checkpoint_dir if result.checkpoint is not None else None)


class FusedReports:
    """Ray Tune's reports of a fused model: each trial's report is sent to its MLflow run at once,
    and after the iteration one Ray Tune report covers them all (with the checkpoints of all
    trials when any wrote one)."""

    def __init__(self, checkpoints: Path):
        self.checkpoints = checkpoints
        self.reported: list = []

    def reporter(self, harness: TrialHarness):
        def report(rep) -> None:
            harness.tracker.flush()
            self.reported.append(rep)
        return report

    def after_iteration(self) -> None:
        if not self.reported:
            return
        metrics = {layout.ITERATION: max(r.iteration for r in self.reported), "fused_reports": len(self.reported)}
        report_to_tune(metrics, self.checkpoints if any(r.checkpoint is not None for r in self.reported) else None)
        self.reported.clear()


def run_fused_trials(config: dict[str, Any], classifier_state: dict | None = None) -> None:
    """Several trials of one architecture trained as one fused model (``trainer.fused``) in one
    Ray Tune trial; each keeps its own MLflow child run, critic, checkpoint folder and status.
    Ray Tune gets one report per iteration at which trials reported, with the checkpoints of all."""
    started_at = time.time()
    settings: TrialSettings = config["settings"]
    cfgs, context, work = trial_setup(trial_members(config["hp"]), settings)
    checkpoints = work / layout.FUSED_CHECKPOINTS     # one folder per fused trial, one Ray Tune checkpoint
    folders = [checkpoints / str(k) for k in range(len(cfgs))]
    restore_checkpoint_folder(checkpoints, any(CheckpointStore(f).exists() for f in folders))
    node = ray.get_runtime_context().get_node_id()
    try:
        harnesses = [TrialHarness(cfg, settings, work / str(k), folders[k], f"{context.get_trial_name()}_{k}",
                                  context.get_trial_id(), node, None, classifier_state, _log,
                                  tags={layout.FUSED_INDEX_TAG: str(k), layout.FUSED_TRIALS_TAG: str(len(cfgs))},
                                  critic_share=len(cfgs))
                     for k, cfg in enumerate(cfgs)]
    except TrackingUnreachable as err:
        return unreachable_tracking(err, started_at, len(cfgs))
    try:
        data = trial_data(cfgs[0], _log)
    except NOT_RETRIED as err:
        return failed_for_good(harnesses, err, started_at)
    for harness in harnesses:
        harness.data = data
    reports = FusedReports(checkpoints)
    for harness in harnesses:
        harness.start_critic()
    try:
        with storage_full_as_one_line(settings):
            results = train_fused(cfgs, [reports.reporter(h) for h in harnesses], folders, data=data,
                                  sample_dirs=[h.sample_dir for h in harnesses],
                                  evaluates=[h.evaluate for h in harnesses],
                                  extra_states=[h.extra_state for h in harnesses], log=_log,
                                  after_iteration=reports.after_iteration)
    except NOT_RETRIED as err:
        return failed_for_good(harnesses, err, started_at)
    finally:
        for harness in harnesses:
            harness.stop_critic(keep=False)
    with storage_full_as_one_line(settings):
        for harness, result in zip(harnesses, results, strict=True):
            harness.end(result)
    statuses = [result.status for result in results]
    status = ("interrupted" if "interrupted" in statuses else
              "finished" if set(statuses) == {"finished"} else "ended")
    tune.report(ended(status, max(r.iteration for r in results), started_at,
                      **{layout.FUSED_STATUSES: ",".join(statuses)}))
