"""What runs inside one Ray Tune trial: the trainer, its MLflow child run, from half of max_iter
on the independent critic as a Ray actor in the trial's own placement-group bundle, and at the
last iteration the final evaluation (sample metrics and the codes of test images)."""

from __future__ import annotations

import json
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


def critic_for_trial(settings: dict, hyperparameters: dict, state: dict | None):
    """The trial's critic actor in bundle 1 of its placement group: the warm one of the previous
    trial when it lives in the same placement group, else a new one. Returns at once; the actor
    starts while the trial trains."""
    pg = ray.util.get_current_placement_group()
    warm = _WARM_CRITIC.pop("actor", None)
    if warm is not None:
        warm_key, actor = warm
        if warm_key == _placement_group_key():
            try:
                ray.get(actor.reset.remote(hyperparameters, settings["data_root"], state), timeout=120)
                return actor
            except (ray.exceptions.RayError, TimeoutError):
                pass
        ray.kill(actor)
    options = {"num_cpus": settings["critic_cpus"], "num_gpus": settings["critic_gpus"]}
    if pg is not None:
        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            placement_group=pg, placement_group_bundle_index=CRITIC_BUNDLE)
    actor = CriticActor.options(**options).remote(max(1, round(settings["critic_cpus"])))
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


def run_trial(config: dict[str, Any], classifier_state: dict | None = None) -> None:
    """The Ray Tune function trainable. ``config = {"hp": hyperparameters, "settings": ...}``;
    ``classifier_state``: the in-domain classifier for the final evaluation (from the driver)."""
    started_at = time.time()
    hp, settings = dict(config["hp"]), config["settings"]
    torch.set_num_threads(settings["threads"])
    device = "cuda" if ray.get_gpu_ids() else "cpu"
    cfg = TrialConfig.from_dict({**hp, "device": device, "data_root": settings["data_root"]},
                                source="sweep trial")
    context = tune.get_context()
    # the trial's own folder on the sweep's storage (every node mounts it). Not get_trial_dir():
    # with actor reuse that is a local working folder, and it can be the previous trial's.
    work = Path(settings["experiment_dir"]) / trial_folder_name(context.get_trial_id()) / "work"
    checkpoint_dir, sample_dir = work / "checkpoint", work / "samples"
    restored = tune.get_checkpoint()
    if CheckpointStore(checkpoint_dir).exists():
        # a retry or a resumed sweep: the trial's own latest checkpoint (written atomically, on the
        # shared storage) is never older than the copy Ray Tune registered, and may be newer when
        # the sweep stopped before Ray Tune recorded it
        pass
    elif restored is not None:                     # e.g. a node whose storage lacks the trial's folder
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        restored.to_directory(str(checkpoint_dir))
    elif checkpoint_dir.exists():                  # a retry before the first checkpoint
        shutil.rmtree(checkpoint_dir)
    box: dict[str, Any] = {"tracker": None, "actor": None, "critic_state": None, "critic_active": False}

    node = ray.get_runtime_context().get_node_id()

    def new_tracker(state=None):
        return TrialTracker(settings["tracking_uri"], settings["experiment_id"], settings["parent_run_id"],
                            context.get_trial_name(), {**cfg.hyperparameters(), "ray_trial_id": context.get_trial_id()},
                            state=state, node=node)

    if not CheckpointStore(checkpoint_dir).exists():
        box["tracker"] = first_tracker(work / "mlflow_run.json", new_tracker)

    def get_extra() -> dict:
        critic_state = box["critic_state"]
        if box["critic_active"]:
            critic_state = ray.get(box["actor"].state.remote())
        return {"tracker": box["tracker"].state(), "critic": critic_state}

    def set_extra(state: dict) -> None:
        box["tracker"] = new_tracker(state["tracker"])
        box["critic_state"] = state["critic"]
        if settings["critic_enabled"]:
            critic_actor()          # a resumed trial: the critic starts from its saved state

    def critic_actor():
        if box["actor"] is None:
            box["actor"] = critic_for_trial(settings, cfg.hyperparameters(), box["critic_state"])
        return box["actor"]

    log = lambda message: print(message, flush=True)  # noqa: E731
    data = trial_data(cfg, log)

    def evaluate(report) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if settings["critic_enabled"] and report.iteration * 2 >= cfg.max_iter:
            generator = {k: v.detach().cpu() for k, v in report.algorithm.nets["generator"].state_dict().items()}
            metrics = ray.get(critic_actor().advance.remote(generator, settings["critic_steps"]))
            box["critic_active"] = True
        files: dict[str, Path] = {}
        if report.iteration == cfg.max_iter and settings.get("eval_samples"):
            final, files = final_evaluation(report, data, settings, classifier_state, work / "latent", log)
            metrics.update(final)
        # buffered before the checkpoint is written, so a crash right after it loses nothing
        box["tracker"].add({**report.metrics, **metrics}, report.iteration, report.images)
        box["tracker"].add({}, report.iteration, files, folder="latent")
        return metrics

    def report(rep) -> None:
        box["tracker"].flush()
        metrics = {**rep.metrics, "iteration": rep.iteration}
        if rep.checkpoint is not None:
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))
        else:
            tune.report(metrics)

    if settings["critic_enabled"] and box["tracker"] is not None:
        critic_actor()              # a new trial: the critic's process starts while the trial trains
    try:
        result = train(cfg, report, checkpoint_dir, data=data, sample_dir=sample_dir, evaluate=evaluate,
                       extra_state=(get_extra, set_extra), log=log)
    except BaseException:
        if box["actor"] is not None:
            ray.kill(box["actor"])
        raise
    if box["actor"] is not None:
        keep_warm(box["actor"])
    if box["tracker"] is None:                     # restored a trial that had already ended
        extra = CheckpointStore(checkpoint_dir).load().get("extra") or {}
        box["tracker"] = new_tracker(extra.get("tracker"))
    box["tracker"].finish(result.status, result.message)
    tune.report({**result.metrics, "trial_status": result.status, "iteration": result.iteration,
                 "trial_started_at": started_at, "trial_ended_at": time.time()})
