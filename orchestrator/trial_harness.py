"""What one trial has inside a Ray Tune trial besides its training: its MLflow child run, its
independent critic (a Ray actor, from half of max_iter on) and its final evaluation. Used by the
plain and the fused trial functions of ``trial_runner``."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import ray
from ray import tune

from trainer import TrialConfig
from trainer.checkpoint import CheckpointStore
from trainer.metrics import Timer, build_classifier, encode_test_codes, evaluate_generator

from . import layout
from .critic_pipeline import CriticPipeline
from .independent_critic import CriticStartError, critic_for_trial, keep_warm
from .settings import EvaluationSettings, TrialSettings
from .tracking import TrialTracker, trial_tracking_uri


def first_tracker(run_file: Path, new_tracker: Callable[..., TrialTracker]) -> TrialTracker:
    """The tracker of a trial with no checkpoint yet. Its run id is written down at once, so a
    trial stopped before its first checkpoint (Ctrl-C, a lost node) continues the same MLflow run
    when it starts again instead of opening a second one."""
    if run_file.is_file():
        run_id = json.loads(run_file.read_text())["run_id"]
        return new_tracker({"run_id": run_id, "pending_metrics": [], "pending_artifacts": []})
    tracker = new_tracker()
    run_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = run_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"run_id": tracker.run_id}))
    tmp.replace(run_file)
    return tracker


def final_evaluation(report, data, evaluation: EvaluationSettings, classifier_state: dict | None,
                     folder: Path, log) -> tuple[dict[str, float], dict[str, Path]]:
    """Sample metrics of the final generator and the codes of test images (saved as .npy)."""
    algo, timer = report.algorithm, Timer()
    classifier = None
    if classifier_state is not None:
        classifier = build_classifier(data.name)
        classifier.load_state_dict(classifier_state)
        classifier.eval()
    start = time.perf_counter()
    metrics = evaluate_generator(algo, data, samples=evaluation.samples, classifier=classifier,
                                 timer=timer, diversity_pairs=evaluation.diversity_pairs)
    files = {}
    codes = encode_test_codes(algo, data, evaluation.codes)
    if codes is not None:
        folder.mkdir(parents=True, exist_ok=True)
        files["codes"] = folder / f"test_codes_{report.iteration:07d}.npy"
        np.save(files["codes"], codes.numpy())
    log(f"final evaluation on {evaluation.samples:,} samples in {time.perf_counter() - start:.1f} s: "
        + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    return metrics, files


def restore_checkpoint_folder(folder: Path, has_own: bool) -> None:
    """Make ``folder`` hold the trial's latest checkpoint(s) before training starts."""
    restored = tune.get_checkpoint()
    if has_own:
        # a retry or a resumed sweep: the trial's own latest checkpoint (written atomically, on the
        # shared storage) is never older than the copy Ray Tune registered, and may be newer when
        # the sweep stopped before Ray Tune recorded it
        return
    if restored is not None:                       # e.g. a node whose storage lacks the trial's folder
        shutil.rmtree(folder, ignore_errors=True)
        restored.to_directory(str(folder))
    elif folder.exists():                          # a retry before the first checkpoint
        shutil.rmtree(folder)


CRITIC_RESTARTS = 3          # restarts of a trial's critic (its actor died) before it is left off


def error_message(err: BaseException) -> str:
    """One line for an error: the original exception of a Ray task error, else the error itself."""
    cause = getattr(err, "cause", None) or err
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}".rstrip(": ")


def mlflow_metrics(training: dict[str, float], critic: dict[str, float],
                   final: dict[str, float]) -> dict[str, float]:
    """A report's values under their MLflow names (sections: loss/, perf/, critic/, eval/)."""
    return {**{layout.training_metric(k): v for k, v in training.items()},
            **{layout.critic_metric(k): v for k, v in critic.items()},
            **{layout.eval_metric(k): v for k, v in final.items()}}


class TrialHarness:
    """One trial's MLflow child run, independent critic and final evaluation inside a Ray Tune
    trial. Its state travels in the trial's checkpoint (``extra_state``). ``critic_share``: how
    many trials share the critic bundle (fused trials); 1 keeps the actor warm for the worker's
    next trial."""

    def __init__(self, cfg: TrialConfig, settings: TrialSettings, work: Path, checkpoint_dir: Path,
                 run_name: str, ray_trial_id: str, node: str, data, classifier_state: dict | None, log,
                 tags: dict[str, str] | None = None, critic_share: int = 1):
        self.cfg, self.settings, self.work, self.data, self.log = cfg, settings, work, data, log
        self.critic = settings.independent_critic
        self.checkpoint_dir, self.sample_dir = checkpoint_dir, work / layout.SAMPLES
        self.classifier_state, self.critic_share = classifier_state, critic_share
        self.run_name, self.node = run_name, node
        self.params = {**cfg.hyperparameters(), layout.RAY_TRIAL_PARAM: ray_trial_id}
        self.tags = tags
        self.tracker: TrialTracker | None = None
        self.actor = None
        self.pipeline: CriticPipeline | None = None  # from the first report from halfway, or the checkpoint
        self.critic_failures = 0
        self.critic_off = False                      # failed for good: the trial goes on without it
        if not CheckpointStore(checkpoint_dir).exists():
            self.tracker = first_tracker(work / layout.RUN_FILE, self.new_tracker)

    def new_tracker(self, state=None) -> TrialTracker:
        s = self.settings
        return TrialTracker(trial_tracking_uri(s.tracking_uri), s.experiment_id, s.parent_run_id, self.run_name,
                            self.params, state=state, node=self.node, tags=self.tags)

    @property
    def extra_state(self):
        return self.get_extra, self.set_extra

    def get_extra(self) -> dict:
        """The trial's checkpoint: its run's buffer, and where its critic is (no waiting for it)."""
        critic = self.pipeline.checkpoint() if self.pipeline is not None else {"state": None, "snapshot": None}
        return {"tracker": self.tracker.state(), "critic": critic["state"], "critic_snapshot": critic["snapshot"]}

    def set_extra(self, state: dict) -> None:
        self.tracker = self.new_tracker(state["tracker"])
        if self.critic.enabled:
            # a resumed trial: the critic starts from its saved state, on the snapshot it was
            # working on (checkpoints before 2026-12 have none)
            self.pipeline = CriticPipeline(self.critic_actor, self.critic.steps_per_report, state["critic"],
                                           state.get("critic_snapshot"))
            self.critic_actor(self.pipeline.state)

    def critic_actor(self, state: dict | None = None):
        """The trial's critic actor; made, where there is none, from the critic's ``state``."""
        if self.actor is None:
            self.actor = critic_for_trial(self.critic, self.settings.data_root, self.cfg.hyperparameters(),
                                          state, share=self.critic_share)
        return self.actor

    def critic_pipeline(self) -> CriticPipeline:
        if self.pipeline is None:
            self.pipeline = CriticPipeline(self.critic_actor, self.critic.steps_per_report)
        return self.pipeline

    def start_critic(self) -> None:
        """A new trial: the critic's process starts while the trial trains."""
        if self.critic.enabled and self.tracker is not None:
            self.critic_actor()

    def critic_failed(self, err: BaseException) -> None:
        """The critic is evaluation only: its failure is tagged on the run and the trial goes on.
        An actor that died is restarted from the critic's last finished state at the next report
        (up to CRITIC_RESTARTS times; the snapshot it was working on has no figures); a critic
        that cannot start is left off."""
        message = error_message(err)
        self.critic_failures += 1
        cannot_start = isinstance(getattr(err, "cause", None), CriticStartError)
        self.critic_off = cannot_start or self.critic_failures > CRITIC_RESTARTS
        what = "left off for this trial" if self.critic_off else "restarted from its last state"
        self.log(f"independent critic failed ({message}); {what}")
        self.tracker.tag(layout.CRITIC_FAILURE_TAG, f"{message} ({what})")
        if self.pipeline is not None:
            self.pipeline.drop()
        if self.actor is not None:
            ray.kill(self.actor)
        self.actor = None

    def advance_critic(self, report) -> list[tuple[int, dict[str, float]]]:
        """Hand the critic this report's generator and go on; the figures of the snapshots it has
        finished (at the trial's last report: all, this one included)."""
        generator = report.algorithm.nets["generator"].state_dict()
        pipeline = self.critic_pipeline()
        try:
            figures = pipeline.hand(report.iteration, generator)
            if report.iteration == self.cfg.max_iter:
                figures += pipeline.collect()
        except ray.exceptions.RayError as err:
            self.critic_failed(err)
            return []
        return figures

    def evaluate(self, report) -> dict[str, float]:
        figures: list[tuple[int, dict[str, float]]] = []
        if self.critic.enabled and not self.critic_off and report.iteration * 2 >= self.cfg.max_iter:
            figures = self.advance_critic(report)
        final: dict[str, float] = {}
        files: dict[str, Path] = {}
        if report.iteration == self.cfg.max_iter and self.settings.evaluation.samples:
            final, files = final_evaluation(report, self.data, self.settings.evaluation, self.classifier_state,
                                            self.work / layout.LATENT, self.log)
        # each snapshot's critic figures at the snapshot's iteration; buffered before the checkpoint
        # is written, so a crash right after it loses nothing
        now = {}
        for iteration, critic in figures:
            if iteration == report.iteration:
                now = critic
            else:
                self.tracker.add(mlflow_metrics({}, critic, {}), iteration)
        self.tracker.add(mlflow_metrics(report.metrics, now, final), report.iteration, report.images,
                         folder=layout.SAMPLES)
        self.tracker.add({}, report.iteration, files, folder=layout.LATENT)
        # what Ray Tune's schedulers and the progress lines see: the figures of the latest snapshot
        # the critic finished, with that snapshot's iteration
        latest = {**figures[-1][1], layout.CRITIC_SNAPSHOT: figures[-1][0]} if figures else {}
        return {**latest, **final}

    def stop_critic(self, keep: bool) -> None:
        if self.actor is not None:
            if keep and self.critic_share == 1:
                keep_warm(self.actor)
            else:
                ray.kill(self.actor)
            self.actor = None

    def ensure_tracker(self) -> TrialTracker:
        if self.tracker is None:                     # a trial restored from its checkpoint
            extra = CheckpointStore(self.checkpoint_dir).load().get("extra") or {}
            self.tracker = self.new_tracker(extra.get("tracker"))
        return self.tracker

    def end(self, result) -> None:
        self.ensure_tracker().finish(result.status, result.message)

    def fail(self, err: BaseException) -> str:
        """End the trial failed for good (an error no retry can fix: a missing dataset on this
        node, a bad setting): the message as a tag and as ``error.txt`` in its run."""
        message = error_message(err)
        self.stop_critic(keep=False)
        tracker = self.ensure_tracker()
        tracker.log_text(f"{message}\n", layout.ERROR_FILE)
        tracker.finish(layout.FAILED, message)
        return message
