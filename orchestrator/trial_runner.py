"""What runs inside one Ray Tune trial: the trainer, its MLflow child run, from half of max_iter
on the independent critic as a Ray actor in the trial's own placement-group bundle, and at the
last iteration the final evaluation (sample metrics and the codes of test images)."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

import numpy as np

from trainer import TrialConfig, build_algorithm, load_dataset, train
from trainer.fused_loop import train_fused
from trainer.checkpoint import CheckpointStore
from trainer.metrics import IndependentCritic, Timer, build_classifier, encode_test_codes, evaluate_generator

from .sweep import trial_folder_name
from .tracking import TrialTracker

CRITIC_BUNDLE = 1


@ray.remote
class CriticActor:
    """The independent critic of one trial; fed the generator's weights at every report. With
    actor reuse it serves the next trial of its worker too (``reset``): no new process, torch
    already imported, data loaded once."""

    def __init__(self, threads: int):
        torch.set_num_threads(threads)
        self.device = "cuda" if ray.get_gpu_ids() else "cpu"

    def reset(self, hyperparameters: dict[str, Any], data_root: str | None, state: dict | None = None) -> None:
        cfg = TrialConfig.from_dict({**hyperparameters, "device": self.device, "data_root": data_root})
        self.algo = build_algorithm(cfg)           # its generator holds the trial's weights
        data = trial_data(cfg, log=lambda m: None)
        self.critic = IndependentCritic(self.algo.arch, data.val, data.test, device=self.device,
                                        width=cfg.width, seed=cfg.seed)
        if state is not None:
            self.critic.load_state_dict(state)

    def _sample(self, n: int) -> torch.Tensor:
        return self.algo.generate(self.algo.sample_prior(n, generator=self.critic.rng))

    def advance(self, generator_state: dict, steps: int) -> dict[str, float]:
        self.algo.nets["generator"].load_state_dict(generator_state)
        self.critic.train(self._sample, steps)
        return {"critic_neg_w_val": self.critic.neg_w_validation(self._sample),
                "critic_neg_w_test": self.critic.neg_w_test(self._sample),
                "critic_steps": float(self.critic.steps)}

    def state(self) -> dict:
        return self.critic.state_dict()


# This worker process's critic actor, kept warm between the trials it runs (Ray Tune reuses the
# worker, and its placement group, for the next trial with the same resources).
_WARM_CRITIC: dict[str, Any] = {}


def critic_for_trial(settings: dict, hyperparameters: dict, state: dict | None, share: int = 1):
    """The trial's critic actor in bundle 1 of its placement group: the warm one of the previous
    trial when it lives in the same placement group, else a new one. Returns at once; the actor
    starts while the trial trains. ``share`` trials (fused) split the bundle's resources."""
    pg = ray.util.get_current_placement_group()
    warm = _WARM_CRITIC.pop("actor", None) if share == 1 else None
    if warm is not None:
        warm_key, actor = warm
        if warm_key == _placement_group_key():
            try:
                ray.get(actor.reset.remote(hyperparameters, settings["data_root"], state), timeout=120)
                return actor
            except (ray.exceptions.RayError, TimeoutError):
                pass
        ray.kill(actor)
    # Ray counts resources in steps of 1e-4: round each share down so that N shares fit the bundle
    options = {"num_cpus": math.floor(settings["critic_cpus"] / share * 1e4) / 1e4,
               "num_gpus": math.floor(settings["critic_gpus"] / share * 1e4) / 1e4}
    if pg is not None:
        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            placement_group=pg, placement_group_bundle_index=CRITIC_BUNDLE)
    actor = CriticActor.options(**options).remote(max(1, round(settings["critic_cpus"] / share)))
    actor.reset.remote(hyperparameters, settings["data_root"], state)      # runs before any other call
    return actor


def first_tracker(run_file: Path, new_tracker):
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


_DATA: dict[tuple, Any] = {}


def trial_data(cfg: TrialConfig, log):
    """The trial's dataset, kept in this process (a trial's worker or its critic actor) for the
    next trial it serves."""
    key = (cfg.dataset, cfg.data_root)
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = load_dataset(cfg.dataset, cfg.data_root, log=log)
    return _DATA[key]


def _placement_group_key() -> str | None:
    pg = ray.util.get_current_placement_group()
    return pg.id.hex() if pg is not None else None


def keep_warm(actor) -> None:
    _WARM_CRITIC["actor"] = (_placement_group_key(), actor)


def final_evaluation(report, data, settings: dict, classifier_state: dict | None, folder: Path,
                     log) -> tuple[dict[str, float], dict[str, Path]]:
    """Sample metrics of the final generator and the codes of test images (saved as .npy)."""
    algo, timer = report.algorithm, Timer()
    classifier = None
    if classifier_state is not None:
        classifier = build_classifier(data.name)
        classifier.load_state_dict(classifier_state)
        classifier.eval()
    start = time.perf_counter()
    metrics = evaluate_generator(algo, data, samples=settings["eval_samples"], classifier=classifier,
                                 timer=timer, diversity_pairs=settings["eval_diversity_pairs"])
    files = {}
    codes = encode_test_codes(algo, data, settings["eval_codes"])
    if codes is not None:
        folder.mkdir(parents=True, exist_ok=True)
        files["codes"] = folder / f"test_codes_{report.iteration:07d}.npy"
        np.save(files["codes"], codes.numpy())
    log(f"final evaluation on {settings['eval_samples']:,} samples in {time.perf_counter() - start:.1f} s: "
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


class TrialSide:
    """What one trial has besides its training, inside a Ray Tune trial: its MLflow child run, its
    independent critic (a Ray actor, from half of max_iter on) and its final evaluation. Its state
    travels in the trial's checkpoint (``extra_state``). ``critic_share``: how many trials share the
    critic bundle (fused trials); 1 keeps the actor warm for the worker's next trial."""

    def __init__(self, cfg: TrialConfig, settings: dict, work: Path, checkpoint_dir: Path, run_name: str,
                 ray_trial_id: str, node: str, data, classifier_state: dict | None, log,
                 tags: dict[str, str] | None = None, critic_share: int = 1):
        self.cfg, self.settings, self.work, self.data, self.log = cfg, settings, work, data, log
        self.checkpoint_dir, self.sample_dir = checkpoint_dir, work / "samples"
        self.classifier_state, self.critic_share = classifier_state, critic_share
        self.run_name, self.node = run_name, node
        self.params = {**cfg.hyperparameters(), "ray_trial_id": ray_trial_id}
        self.tags = tags
        self.tracker: TrialTracker | None = None
        self.actor = None
        self.critic_state: dict | None = None
        self.critic_active = False
        if not CheckpointStore(checkpoint_dir).exists():
            self.tracker = first_tracker(work / "mlflow_run.json", self.new_tracker)

    def new_tracker(self, state=None) -> TrialTracker:
        s = self.settings
        return TrialTracker(s["tracking_uri"], s["experiment_id"], s["parent_run_id"], self.run_name,
                            self.params, state=state, node=self.node, tags=self.tags)

    @property
    def extra_state(self):
        return self.get_extra, self.set_extra

    def get_extra(self) -> dict:
        critic_state = self.critic_state
        if self.critic_active:
            critic_state = ray.get(self.actor.state.remote())
        return {"tracker": self.tracker.state(), "critic": critic_state}

    def set_extra(self, state: dict) -> None:
        self.tracker = self.new_tracker(state["tracker"])
        self.critic_state = state["critic"]
        if self.settings["critic_enabled"]:
            self.critic_actor()          # a resumed trial: the critic starts from its saved state

    def critic_actor(self):
        if self.actor is None:
            self.actor = critic_for_trial(self.settings, self.cfg.hyperparameters(), self.critic_state,
                                          share=self.critic_share)
        return self.actor

    def start_critic(self) -> None:
        """A new trial: the critic's process starts while the trial trains."""
        if self.settings["critic_enabled"] and self.tracker is not None:
            self.critic_actor()

    def evaluate(self, report) -> dict[str, float]:
        cfg, settings = self.cfg, self.settings
        metrics: dict[str, float] = {}
        if settings["critic_enabled"] and report.iteration * 2 >= cfg.max_iter:
            generator = {k: v.detach().cpu() for k, v in report.algorithm.nets["generator"].state_dict().items()}
            metrics = ray.get(self.critic_actor().advance.remote(generator, settings["critic_steps"]))
            self.critic_active = True
        files: dict[str, Path] = {}
        if report.iteration == cfg.max_iter and settings.get("eval_samples"):
            final, files = final_evaluation(report, self.data, settings, self.classifier_state,
                                            self.work / "latent", self.log)
            metrics.update(final)
        # buffered before the checkpoint is written, so a crash right after it loses nothing
        self.tracker.add({**report.metrics, **metrics}, report.iteration, report.images)
        self.tracker.add({}, report.iteration, files, folder="latent")
        return metrics

    def stop_critic(self, keep: bool) -> None:
        if self.actor is not None:
            if keep and self.critic_share == 1:
                keep_warm(self.actor)
            else:
                ray.kill(self.actor)
            self.actor = None

    def end(self, result) -> None:
        if self.tracker is None:                     # restored a trial that had already ended
            extra = CheckpointStore(self.checkpoint_dir).load().get("extra") or {}
            self.tracker = self.new_tracker(extra.get("tracker"))
        self.tracker.finish(result.status, result.message)


def _log(message: str) -> None:
    print(message, flush=True)


def trial_setup(hps: list[dict], settings: dict):
    """What every Ray Tune trial function starts with: torch threads, the trial configs on this
    worker's device, and the trial's own work folder on the sweep's storage (every node mounts it).
    Not get_trial_dir(): with actor reuse that is a local working folder, and it can be the
    previous trial's."""
    torch.set_num_threads(settings["threads"])
    device = "cuda" if ray.get_gpu_ids() else "cpu"
    cfgs = [TrialConfig.from_dict({**hp, "device": device, "data_root": settings["data_root"]},
                                  source="sweep trial") for hp in hps]
    context = tune.get_context()
    work = Path(settings["experiment_dir"]) / trial_folder_name(context.get_trial_id()) / "work"
    return cfgs, context, work


def run_trial(config: dict[str, Any], classifier_state: dict | None = None) -> None:
    """The Ray Tune function trainable. ``config = {"hp": hyperparameters, "settings": ...}``, or
    ``{"hp": {"fused": [hyperparameters, ...]}, ...}`` for trials fused into one model;
    ``classifier_state``: the in-domain classifier for the final evaluation (from the driver)."""
    if "fused" in config["hp"]:
        return run_fused_trials(config, classifier_state)
    started_at = time.time()
    settings = config["settings"]
    (cfg,), context, work = trial_setup([config["hp"]], settings)
    checkpoint_dir = work / "checkpoint"
    restore_checkpoint_folder(checkpoint_dir, CheckpointStore(checkpoint_dir).exists())
    log = _log
    data = trial_data(cfg, log)
    side = TrialSide(cfg, settings, work, checkpoint_dir, context.get_trial_name(), context.get_trial_id(),
                     ray.get_runtime_context().get_node_id(), data, classifier_state, log)

    def report(rep) -> None:
        side.tracker.flush()
        metrics = {**rep.metrics, "iteration": rep.iteration}
        if rep.checkpoint is not None:
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))
        else:
            tune.report(metrics)

    side.start_critic()
    try:
        result = train(cfg, report, checkpoint_dir, data=data, sample_dir=side.sample_dir, evaluate=side.evaluate,
                       extra_state=side.extra_state, log=log)
    except BaseException:
        side.stop_critic(keep=False)
        raise
    side.stop_critic(keep=True)
    side.end(result)
    tune.report({**result.metrics, "trial_status": result.status, "iteration": result.iteration,
                 "trial_started_at": started_at, "trial_ended_at": time.time()})


def run_fused_trials(config: dict[str, Any], classifier_state: dict | None = None) -> None:
    """Several trials of one architecture trained as one fused model (``trainer.fused``) in one
    Ray Tune trial; each keeps its own MLflow child run, critic, checkpoint folder and status.
    Ray Tune gets one report per iteration at which trials reported, with the checkpoints of all."""
    started_at = time.time()
    settings = config["settings"]
    cfgs, context, work = trial_setup(config["hp"]["fused"], settings)
    checkpoints = work / "checkpoints"             # one folder per fused trial, one Ray Tune checkpoint
    folders = [checkpoints / str(k) for k in range(len(cfgs))]
    restore_checkpoint_folder(checkpoints, any(CheckpointStore(f).exists() for f in folders))
    log = _log
    data = trial_data(cfgs[0], log)
    node = ray.get_runtime_context().get_node_id()
    sides = [TrialSide(cfg, settings, work / str(k), folders[k], f"{context.get_trial_name()}_{k}",
                       context.get_trial_id(), node, data, classifier_state, log,
                       tags={"fused_index": str(k), "fused_trials": str(len(cfgs))}, critic_share=len(cfgs))
             for k, cfg in enumerate(cfgs)]
    reported: list = []

    def reporter(side):
        def report(rep) -> None:
            side.tracker.flush()
            reported.append(rep)
        return report

    def after_iteration() -> None:
        if not reported:
            return
        metrics = {"iteration": max(r.iteration for r in reported), "fused_reports": len(reported)}
        if any(r.checkpoint is not None for r in reported):
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoints)))
        else:
            tune.report(metrics)
        reported.clear()

    for side in sides:
        side.start_critic()
    try:
        results = train_fused(cfgs, [reporter(side) for side in sides], folders, data=data,
                              sample_dirs=[side.sample_dir for side in sides],
                              evaluates=[side.evaluate for side in sides],
                              extra_states=[side.extra_state for side in sides], log=log,
                              after_iteration=after_iteration)
    finally:
        for side in sides:
            side.stop_critic(keep=False)
    for side, result in zip(sides, results):
        side.end(result)
    statuses = [result.status for result in results]
    status = ("interrupted" if "interrupted" in statuses else
              "finished" if set(statuses) == {"finished"} else "ended")
    tune.report({"trial_status": status,
                 "fused_statuses": ",".join(statuses), "iteration": max(r.iteration for r in results),
                 "trial_started_at": started_at, "trial_ended_at": time.time()})
