"""One trial's side of the training loop: its data sampler, resume, loss intervals, reports,
sample grids, checkpoints and status. ``loop.train`` steps one trial with it;
``fused_loop.train_fused`` steps several with one fused model."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import CheckpointStore, global_rng_state, set_global_rng_state
from .config import STACKED_DATASETS, ConfigError, TrialConfig
from .data import BatchSampler, ImageDataset, load_dataset
from .images import save_channel_grid, save_grid, save_reconstruction_grid
from .models import Algorithm, build_algorithm
from .outcomes import DIVERGED, FINISHED, INTERRUPTED


@dataclass
class Report:
    """What the loop tells its caller every ``report_every`` iterations and at the end."""

    iteration: int
    metrics: dict[str, float]                 # mean losses over the interval, iterations/s
    images: dict[str, Path] = field(default_factory=dict)
    checkpoint: Path | None = None            # set when a checkpoint was written at this report
    algorithm: Algorithm | None = None        # the live models, for metrics that need them


@dataclass
class TrialResult:
    status: str                               # finished | diverged | interrupted
    iteration: int
    metrics: dict[str, float]
    message: str
    checkpoint: Path | None = None
    images: dict[str, Path] = field(default_factory=dict)


def _check_same_trial(saved: dict[str, Any], cfg: TrialConfig, store: CheckpointStore, iteration: int) -> None:
    """The trial in ``store`` (at ``iteration``) is ``cfg``'s. Only max_iter may differ, as long as
    the trial has not gone past it: a trial trained further continues exactly as if it had been
    asked for the longer run from the start (its data order and every RNG are in the checkpoint)."""
    current = cfg.hyperparameters()
    # a setting added after the checkpoint was written had its default then
    defaults = {f.name: f.default for f in dataclasses.fields(TrialConfig)}
    changed = [f"{key}: {saved.get(key, defaults[key])!r} -> {current[key]!r}" for key in current
               if key != "max_iter" and saved.get(key, defaults[key]) != current[key]]
    if changed:
        raise ConfigError(f"the checkpoint in {store.directory} belongs to another trial "
                          f"({'; '.join(changed)}); use another output folder or the same settings")
    if iteration > cfg.max_iter:
        raise ConfigError(f"the trial in {store.directory} is at iteration {iteration:,}, past max_iter "
                          f"{cfg.max_iter:,}; raise max_iter to train it further, or use another output folder")


class _Interval:
    """Sums of the step losses since the last report, kept on the device (no host sync)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.started = time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for key, value in losses.items():
            value = value.float()                     # bf16 steps: sum in fp32
            self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
        self.count += 1

    def means(self) -> dict[str, float]:
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys]).div(self.count).tolist() if keys else []
        return dict(zip(keys, values, strict=True))

    def state_dict(self) -> dict[str, Any]:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "count": self.count}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.count = state["count"]


class TrialRun:
    """One trial's side of the loop: its data sampler, resume, loss intervals, reports, sample
    grids, checkpoints and status. :func:`train` steps one of them; fused training
    (``trainer.fused_loop``) steps several with one fused model. ``algo`` is the trial's own
    algorithm; ``before_save`` brings it up to date first (fused training syncs it)."""

    def __init__(self, cfg: TrialConfig, report: Callable[[Report], None] | None,
                 checkpoint_dir: str | Path | None, *, data: ImageDataset | None,
                 sample_dir: str | Path | None, log: Callable[[str], None],
                 evaluate: Callable[[Report], dict[str, float]] | None,
                 extra_state: tuple[Callable[[], Any], Callable[[Any], None]] | None):
        self.cfg, self.report, self.log, self.evaluate, self.extra_state = cfg, report, log, evaluate, extra_state
        self.device = torch.device(cfg.resolved_device())
        self.store = CheckpointStore(checkpoint_dir) if checkpoint_dir is not None else None
        if sample_dir is None and checkpoint_dir is not None:
            sample_dir = Path(checkpoint_dir) / "samples"
        self.sample_dir = sample_dir
        self.before_save: Callable[[], None] = lambda: None
        self.result: TrialResult | None = None        # set once the trial has ended
        self.last_metrics: dict[str, float] = {}
        self.images: dict[str, Path] = {}
        store = self.store
        status = store.read_status() if store is not None else None
        if status is not None and status["status"] in (FINISHED, DIVERGED):
            _check_same_trial(status.get("hyperparameters", {}), cfg, store,
                              status["iteration"] if status["status"] == FINISHED else 0)
            if status["status"] == DIVERGED or status["iteration"] == cfg.max_iter:
                log(f"trial in {store.directory} already {status['status']} at iteration "
                    f"{status['iteration']}; nothing to do")
                self.result = TrialResult(status["status"], status["iteration"], status.get("metrics", {}),
                                          status.get("message", ""), store.path if store.exists() else None)
                return
            log(f"trial in {store.directory} finished {status['iteration']:,} iterations; training it on to "
                f"max_iter {cfg.max_iter:,}")
        self.data = data if data is not None else load_dataset(cfg.dataset, cfg.data_root, log=log)
        self.algo = algo = build_algorithm(cfg)
        if self.data.image_shape != algo.arch.image_shape:
            raise ConfigError(f"dataset {self.data.name} has images of shape {self.data.image_shape}, but the "
                              f"{algo.arch.name} networks expect {algo.arch.image_size}x{algo.arch.image_size}")
        self.sampler = BatchSampler(self.data.train, cfg.batch_size, seed=cfg.seed + 1, device=self.device)
        fixed = torch.Generator(device=self.device).manual_seed(cfg.seed + 2)
        self.fixed_z = algo.sample_prior(cfg.sample_count, generator=fixed)
        self.fixed_x = self.data.val[:cfg.sample_count].to(self.device).float().div(127.5).sub(1)
        self.interval = _Interval()
        self.start = 0
        if store is not None and store.exists():
            state = store.load()
            _check_same_trial(state["hyperparameters"], cfg, store, state["iteration"])
            algo.load_state_dict(state["algorithm"])
            self.sampler.load_state_dict(state["sampler"])
            self.interval.load_state_dict(state["interval"], self.device)
            set_global_rng_state(state["global_rng"])
            if extra_state is not None and "extra" in state:
                extra_state[1](state["extra"])
            self.start = state["iteration"]
            log(f"resuming {cfg.model} on {cfg.dataset} from iteration {self.start:,} ({store.path})")
        self.iteration = self.start

    def next_batch(self) -> torch.Tensor:
        return self.sampler.next(self.algo.real_batches_per_step)

    def reports_at(self, iteration: int) -> bool:
        return iteration % self.cfg.report_every == 0 or iteration == self.cfg.max_iter

    def save_checkpoint(self, iteration: int) -> Path | None:
        if self.store is None:
            return None
        self.before_save()
        state = {"iteration": iteration, "hyperparameters": self.cfg.hyperparameters(),
                 "config": self.cfg.to_dict(), "algorithm": self.algo.state_dict(),
                 "sampler": self.sampler.state_dict(), "interval": self.interval.state_dict(),
                 "global_rng": global_rng_state()}
        if self.extra_state is not None:
            state["extra"] = self.extra_state[0]()
        return self.store.save(state)

    def finish(self, status: str, iteration: int, metrics: dict[str, float], message: str,
               images: dict[str, Path] | None = None) -> TrialResult:
        if self.store is not None:
            self.store.write_status({"status": status, "iteration": iteration, "metrics": metrics,
                                     "message": message, "hyperparameters": self.cfg.hyperparameters()})
        self.result = TrialResult(status, iteration, metrics, message,
                                  self.store.path if self.store is not None and self.store.exists() else None,
                                  images or {})
        return self.result

    def interrupt(self, iteration: int, path: Path | None = None) -> TrialResult:
        path = path or self.save_checkpoint(iteration)
        return self.finish(INTERRUPTED, iteration, self.last_metrics,
                           f"interrupted at iteration {iteration:,}; checkpoint {path}; "
                           "run the same command again to resume")

    def save_images(self, iteration: int) -> dict[str, Path]:
        if self.sample_dir is None:
            return {}
        algo, folder = self.algo, Path(self.sample_dir)
        samples = algo.generate(self.fixed_z)
        images = {"samples": save_grid(samples, folder / f"samples_{iteration:07d}.png")}
        if self.data.name in STACKED_DATASETS:
            images["sample_channels"] = save_channel_grid(
                samples[:16], folder / f"sample_channels_{iteration:07d}.png")
        if algo.has_encoder:
            images["reconstructions"] = save_reconstruction_grid(
                self.fixed_x, algo.reconstruct(self.fixed_x), folder / f"reconstructions_{iteration:07d}.png")
        return images

    def after_step(self, iteration: int, losses: dict[str, torch.Tensor],
                   stopping: Callable[[], bool]) -> TrialResult | None:
        """Account one iteration's losses; at a report: divergence check, sample grids,
        ``evaluate``, checkpoint, ``report``. ``stopping()`` says whether to stop (asked after the
        report at a report). Returns the trial's result once it has ended."""
        self.iteration = iteration
        self.interval.add(losses)
        cfg, interval = self.cfg, self.interval
        at_end = iteration == cfg.max_iter
        if not self.reports_at(iteration):
            return self.interrupt(iteration) if stopping() else None
        elapsed = time.perf_counter() - interval.started
        metrics = interval.means()
        bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
        if bad:
            return self.finish(DIVERGED, iteration, metrics,
                               f"loss {', '.join(bad)} became non-finite between iterations "
                               f"{iteration - interval.count + 1:,} and {iteration:,}: the trial "
                               f"diverged (try smaller learning rates); last good checkpoint kept")
        metrics["iterations_per_second"] = interval.count / max(elapsed, 1e-9)
        self.interval = _Interval()
        self.before_save()
        self.images = self.save_images(iteration)
        if self.evaluate is not None:
            metrics.update(self.evaluate(Report(iteration, dict(metrics), self.images, None, self.algo)))
        path = None
        if at_end or iteration % cfg.checkpoint_every == 0:
            path = self.save_checkpoint(iteration)
        self.last_metrics = metrics
        if self.report is not None:
            self.report(Report(iteration, metrics, self.images, path, self.algo))
        if at_end:
            return self.finish(FINISHED, iteration, metrics, f"finished {cfg.max_iter:,} iterations", self.images)
        return self.interrupt(iteration, path) if stopping() else None
