"""The training loop of one trial: data, updates, reports, sample grids, checkpoints, resume.

The loop reports through a callback, so it runs alone, inside Ray Tune or in a notebook; it
never imports Ray or MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import TrialConfig
from .cuda_graphs import make_step
from .data import ImageDataset
from .loop_scaffold import log_stderr, training_loop
from .outcomes import DIVERGED, FINISHED, INTERRUPTED
from .progress import progress_bar
from .trial_run import Report, TrialResult, TrialRun

__all__ = ["train", "Report", "TrialResult", "FINISHED", "DIVERGED", "INTERRUPTED"]


def train(cfg: TrialConfig, report: Callable[[Report], None] | None = None,
          checkpoint_dir: str | Path | None = None, *, data: ImageDataset | None = None,
          sample_dir: str | Path | None = None, progress: bool = False,
          log: Callable[[str], None] = log_stderr,
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
    run = TrialRun(cfg, report, checkpoint_dir, data=data, sample_dir=sample_dir, log=log,
                   evaluate=evaluate, extra_state=extra_state)
    if run.result is not None:
        return run.result
    bar = progress_bar(cfg.max_iter, run.start, f"{cfg.model}/{cfg.dataset}") if progress else None
    step = make_step(run.algo, cfg, run.device, log)
    with training_loop(run.device, cfg.cudnn_benchmark, should_stop, bar) as control:
        for iteration in range(run.start + 1, cfg.max_iter + 1):
            with run.algo.precision():
                losses = step(run.next_batch())
            control.advance()
            if (result := run.after_step(iteration, losses, control.stopping)) is not None:
                return result
            if bar is not None and run.reports_at(iteration):
                bar.set_postfix({k: f"{v:.3g}" for k, v in run.last_metrics.items()
                                 if k != "iterations_per_second"}, refresh=False)
    return run.result or run.finish(FINISHED, run.iteration, run.last_metrics,
                                    f"finished {cfg.max_iter:,} iterations", run.images)
