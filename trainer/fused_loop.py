"""The training loop of several trials fused into one model (``trainer.fused``).

Each trial keeps everything :func:`trainer.train` gives it: its own data sampler, reports,
sample grids, evaluation, checkpoints (in the unfused format: a fused trial resumes unfused and
the other way round) and status. The fused model steps all trials that are still running; when one
ends (finished, diverged) the others go on in a model rebuilt without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .config import TrialConfig
from .cuda_graphs import make_step
from .data import ImageDataset, load_dataset
from .fused import FusedAlgorithm, check_fusable, split
from .loop_scaffold import log_stderr, training_loop
from .outcomes import FINISHED
from .progress import progress_bar
from .trial_run import Report, TrialResult, TrialRun


def train_fused(configs: Sequence[TrialConfig],
                reports: Sequence[Callable[[Report], None] | None] | None = None,
                checkpoint_dirs: Sequence[str | Path | None] | None = None, *,
                data: ImageDataset | None = None,
                sample_dirs: Sequence[str | Path | None] | None = None, progress: bool = False,
                log: Callable[[str], None] = log_stderr,
                should_stop: Callable[[], bool] | None = None,
                evaluates: Sequence[Callable[[Report], dict[str, float]] | None] | None = None,
                extra_states: Sequence[tuple[Callable[[], Any], Callable[[Any], None]] | None] | None = None,
                after_iteration: Callable[[], None] | None = None) -> list[TrialResult]:
    """Train ``configs`` (same model, dataset and architecture) as one fused model; the
    arguments are those of :func:`trainer.train`, one per trial. ``after_iteration`` runs after
    every fused iteration (after that iteration's reports). Returns each trial's result."""
    configs = list(configs)
    n = len(configs)
    check_fusable(configs)
    none = [None] * n
    reports, checkpoint_dirs = list(reports or none), list(checkpoint_dirs or none)
    sample_dirs, evaluates = list(sample_dirs or none), list(evaluates or none)
    extra_states = list(extra_states or none)
    if data is None:
        data = load_dataset(configs[0].dataset, configs[0].data_root, log=log)
    runs = [TrialRun(cfg, reports[i], checkpoint_dirs[i], data=data, sample_dir=sample_dirs[i], log=log,
                     evaluate=evaluates[i], extra_state=extra_states[i]) for i, cfg in enumerate(configs)]
    for run in runs:
        if run.result is None and run.start >= run.cfg.max_iter:    # its last checkpoint is the end
            run.finish(FINISHED, run.start, {}, f"finished {run.cfg.max_iter:,} iterations")
    active = [run for run in runs if run.result is None]
    bar = None
    if progress and active:
        bar = progress_bar(max(r.cfg.max_iter - r.start for r in active), 0,
                           f"{len(active)} fused {configs[0].model}/{configs[0].dataset}")
    with training_loop(runs[0].device, configs[0].cudnn_benchmark, should_stop, bar) as control:
        while active:
            fused = FusedAlgorithm([run.algo for run in active])
            for run in active:
                run.before_save = fused.sync
            if len(active) < n:
                log(f"{len(active)} of {n} fused trials go on")
            step = make_step(fused, configs[0], active[0].device, log)
            while all(run.result is None for run in active):
                with active[0].algo.precision():
                    losses = step(torch.stack([run.next_batch() for run in active]))
                for run, trial_losses in zip(active, split(losses, len(active)), strict=True):
                    run.after_step(run.iteration + 1, trial_losses, control.stopping)
                control.advance()
                if after_iteration is not None:
                    after_iteration()
            fused.sync()
            active = [run for run in active if run.result is None]
    return [run.result for run in runs]


__all__ = ["train_fused"]
