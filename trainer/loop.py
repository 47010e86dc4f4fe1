"""The training loop of one trial: data, updates, reports, sample grids, checkpoints, resume.

The loop reports through a callback, so it runs alone, inside Ray Tune or in a notebook; it
never imports Ray or MLflow.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from .checkpoint import CheckpointStore, global_rng_state, set_global_rng_state
from .config import ConfigError, TrialConfig
from .data import BatchSampler, ImageDataset, load_dataset
from .data.stacked import STACKED_DATASETS
from .images import save_channel_grid, save_grid, save_reconstruction_grid
from .models import Algorithm, build_algorithm

FINISHED, DIVERGED, INTERRUPTED = "finished", "diverged", "interrupted"


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


def _log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _stop_on_signals(stop: list[bool]) -> Iterator[None]:
    """Ctrl-C / SIGTERM ask the loop to stop after the current iteration (so the checkpoint it
    writes is consistent); a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop[0]:
            raise KeyboardInterrupt
        stop[0] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _check_same_trial(saved: dict[str, Any], cfg: TrialConfig, store: CheckpointStore) -> None:
    current = cfg.hyperparameters()
    changed = [f"{key}: {saved.get(key)!r} -> {current[key]!r}" for key in current
               if saved.get(key) != current[key]]
    if changed:
        raise ConfigError(f"the checkpoint in {store.directory} belongs to another trial "
                          f"({'; '.join(changed)}); use another output folder or the same settings")


class _Interval:
    """Sums of the step losses since the last report, kept on the device (no host sync)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.started = time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for key, value in losses.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
        self.count += 1

    def means(self) -> dict[str, float]:
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys]).div(self.count).tolist() if keys else []
        return dict(zip(keys, values))

    def state_dict(self) -> dict[str, Any]:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "count": self.count}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.count = state["count"]


def train(cfg: TrialConfig, report: Callable[[Report], None] | None = None,
          checkpoint_dir: str | Path | None = None, *, data: ImageDataset | None = None,
          sample_dir: str | Path | None = None, progress: bool = False,
          log: Callable[[str], None] = _log_stderr,
          should_stop: Callable[[], bool] | None = None,
          evaluate: Callable[[Report], dict[str, float]] | None = None,
          extra_state: tuple[Callable[[], Any], Callable[[Any], None]] | None = None) -> TrialResult:
    """Train one trial to ``cfg.max_iter`` iterations, resuming from ``checkpoint_dir``.

    ``report`` receives a :class:`Report` every ``cfg.report_every`` iterations and at the end.
    Checkpoints (every ``cfg.checkpoint_every`` iterations, at the end and on interruption) hold
    everything needed to continue bit-identically on CPU. Sample grids (and reconstruction grids
    for models with an encoder) go to ``sample_dir`` (default ``checkpoint_dir/samples``).
    ``evaluate`` runs at every report before the checkpoint is written; the metrics it returns
    join the report's (e.g. an independent critic advanced against the current generator).
    ``extra_state`` = (get, set) lets a caller keep its own state in the same checkpoint.
    A non-finite loss ends the trial with status ``diverged``; the last good checkpoint is kept.
    """
    device = torch.device(cfg.resolved_device())
    store = CheckpointStore(checkpoint_dir) if checkpoint_dir is not None else None
    if sample_dir is None and checkpoint_dir is not None:
        sample_dir = Path(checkpoint_dir) / "samples"

    if store is not None and (status := store.read_status()) and status["status"] in (FINISHED, DIVERGED):
        _check_same_trial(status.get("hyperparameters", {}), cfg, store)
        log(f"trial in {store.directory} already {status['status']} at iteration "
            f"{status['iteration']}; nothing to do")
        return TrialResult(status["status"], status["iteration"], status.get("metrics", {}),
                           status.get("message", ""), store.path if store.exists() else None)

    data = data if data is not None else load_dataset(cfg.dataset, cfg.data_root, log=log)
    algo = build_algorithm(cfg)
    if data.image_shape != (algo.arch.image_channels, algo.arch.image_size, algo.arch.image_size):
        raise ConfigError(f"dataset {data.name} has images of shape {data.image_shape}, but the "
                          f"{algo.arch.name} networks expect {algo.arch.image_size}x{algo.arch.image_size}")
    sampler = BatchSampler(data.train, cfg.batch_size, seed=cfg.seed + 1, device=device)
    fixed = torch.Generator(device=device).manual_seed(cfg.seed + 2)
    fixed_z = algo.sample_prior(cfg.sample_count, generator=fixed)
    fixed_x = data.val[:cfg.sample_count].to(device).float().div(127.5).sub(1)
    interval = _Interval()
    start = 0

    if store is not None and store.exists():
        state = store.load(map_location=device)
        _check_same_trial(state["hyperparameters"], cfg, store)
        algo.load_state_dict(state["algorithm"])
        sampler.load_state_dict(state["sampler"])
        interval.load_state_dict(state["interval"], device)
        set_global_rng_state(state["global_rng"])
        if extra_state is not None and "extra" in state:
            extra_state[1](state["extra"])
        start = state["iteration"]
        log(f"resuming {cfg.model} on {cfg.dataset} from iteration {start:,} ({store.path})")

    def save_checkpoint(iteration: int) -> Path | None:
        if store is None:
            return None
        state = {"iteration": iteration, "hyperparameters": cfg.hyperparameters(),
                 "config": cfg.to_dict(), "algorithm": algo.state_dict(),
                 "sampler": sampler.state_dict(), "interval": interval.state_dict(),
                 "global_rng": global_rng_state()}
        if extra_state is not None:
            state["extra"] = extra_state[0]()
        return store.save(state)

    def finish(status: str, iteration: int, metrics: dict[str, float], message: str,
               images: dict[str, Path] | None = None) -> TrialResult:
        if store is not None:
            store.write_status({"status": status, "iteration": iteration, "metrics": metrics,
                                "message": message, "hyperparameters": cfg.hyperparameters()})
        return TrialResult(status, iteration, metrics, message,
                           store.path if store is not None and store.exists() else None, images or {})

    def save_images(iteration: int) -> dict[str, Path]:
        if sample_dir is None:
            return {}
        folder = Path(sample_dir)
        samples = algo.generate(fixed_z)
        images = {"samples": save_grid(samples, folder / f"samples_{iteration:07d}.png")}
        if data.name in STACKED_DATASETS:
            images["sample_channels"] = save_channel_grid(
                samples[:16], folder / f"sample_channels_{iteration:07d}.png")
        if algo.has_encoder:
            images["reconstructions"] = save_reconstruction_grid(
                fixed_x, algo.reconstruct(fixed_x), folder / f"reconstructions_{iteration:07d}.png")
        return images

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.max_iter, initial=start, unit="it", dynamic_ncols=True,
                   desc=f"{cfg.model}/{cfg.dataset}", mininterval=0.5)
    stop = [False]
    last_metrics: dict[str, float] = {}
    images: dict[str, Path] = {}
    iteration = start
    try:
        with _stop_on_signals(stop):
            for iteration in range(start + 1, cfg.max_iter + 1):
                interval.add(algo.step_tensors(sampler.next(algo.real_batches_per_step)))
                if bar is not None:
                    bar.update()
                at_end = iteration == cfg.max_iter
                if iteration % cfg.report_every and not at_end:
                    if stop[0] or (should_stop is not None and should_stop()):
                        path = save_checkpoint(iteration)
                        return finish(INTERRUPTED, iteration, last_metrics,
                                      f"interrupted at iteration {iteration:,}; checkpoint {path}; "
                                      "run the same command again to resume")
                    continue
                elapsed = time.perf_counter() - interval.started
                metrics = interval.means()
                bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
                if bad:
                    return finish(DIVERGED, iteration, metrics,
                                  f"loss {', '.join(bad)} became non-finite between iterations "
                                  f"{iteration - interval.count + 1:,} and {iteration:,}: the trial "
                                  f"diverged (try smaller learning rates); last good checkpoint kept")
                metrics["iterations_per_second"] = interval.count / max(elapsed, 1e-9)
                interval = _Interval()
                images = save_images(iteration)
                if evaluate is not None:
                    metrics.update(evaluate(Report(iteration, dict(metrics), images, None, algo)))
                path = None
                if at_end or iteration % cfg.checkpoint_every == 0 or stop[0]:
                    path = save_checkpoint(iteration)
                last_metrics = metrics
                if bar is not None:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in metrics.items()
                                     if k != "iterations_per_second"}, refresh=False)
                if report is not None:
                    report(Report(iteration, metrics, images, path, algo))
                if not at_end and (stop[0] or (should_stop is not None and should_stop())):
                    path = path or save_checkpoint(iteration)
                    return finish(INTERRUPTED, iteration, metrics,
                                  f"interrupted at iteration {iteration:,}; checkpoint {path}; "
                                  "run the same command again to resume")
    finally:
        if bar is not None:
            bar.close()
    return finish(FINISHED, iteration, last_metrics,
                  f"finished {cfg.max_iter:,} iterations", images)
