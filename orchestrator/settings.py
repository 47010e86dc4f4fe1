"""What the sweep driver hands each Ray Tune trial besides its hyperparameters, typed: these
settings cross from the driver to the trial's worker process (pickled by Ray Tune, kept in its
experiment state for ``--resume``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IndependentCriticSettings:
    """The independent Wasserstein critic trained beside each trial from half of max_iter on
    (the paper's sample-quality metric; not the WGAN-GP model's own critic). ``gpus``: a number,
    or in a spec "auto" (one trial's share on GPU clusters), resolved by the driver."""

    enabled: bool = True
    steps_per_report: int = 100
    cpus: float = 1.0
    gpus: float | str = "auto"
    width: float | None = None        # its network's channel multiplier (default: the trial's width)


@dataclass(frozen=True)
class EvaluationSettings:
    """The final evaluation of every finished trial: samples for the metrics (0 skips it), MS-SSIM
    pairs for sample diversity, test images encoded for the latent statistics."""

    samples: int = 10_000
    diversity_pairs: int = 5000
    codes: int = 2000


@dataclass(frozen=True)
class TrialSettings:
    """The sweep-wide settings of a trial: where it records (MLflow run under the sweep's parent
    run, its folder under ``experiment_dir``), where its data is, its torch threads, its
    independent critic and its final evaluation."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    experiment_dir: str
    data_root: str | None
    device: str                       # auto: the trial's GPU if Ray gave it one; cpu; cuda
    threads: int
    independent_critic: IndependentCriticSettings
    evaluation: EvaluationSettings


@dataclass(frozen=True)
class FusedGroup:
    """Several trials of one architecture trained as one fused model in one Ray Tune trial
    (``resources.fuse_trials``): each member is one trial's hyperparameters."""

    members: tuple[dict[str, Any], ...]

    def __len__(self) -> int:
        return len(self.members)


def trial_members(hp: dict[str, Any] | FusedGroup) -> tuple[dict[str, Any], ...]:
    """The trials a Ray Tune trial trains: its own hyperparameters, or a fused group's members."""
    return hp.members if isinstance(hp, FusedGroup) else (hp,)
