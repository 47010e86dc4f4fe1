"""What a sweep's checkpoints take on its storage, known before it starts: a storage too small
fails the trials hours in, one after the other, when the disk fills.

Each trial keeps its own checkpoint and Ray Tune keeps copies of its latest ones
(``layout.RAY_CHECKPOINTS_KEPT``) until the sweep is deleted; with the independent critic, a
checkpoint also holds the critic's network, its Adam state and the generator snapshot it is
working on. A checkpoint being written needs room beside the one it replaces."""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path

from trainer import ConfigError, TrialConfig
from trainer.memory import in_binary_units

from . import layout
from .errors import SpecError, UsageError
from .sweep_spec import SweepSpec
from .writable import nearest_existing

COPIES = 1 + layout.RAY_CHECKPOINTS_KEPT     # the trial's own checkpoint and Ray Tune's copies


@lru_cache(maxsize=64)
def _checkpoint_bytes(model: str, dataset: str, width: float, latent_dim: int, prior_matching: str,
                      critic_width: float | None) -> int:
    """One trial's checkpoint, for the hyperparameters that shape its networks."""
    import torch

    from trainer.metrics.critic import critic_network
    from trainer.models import checkpoint_bytes, networks_too_large_to_build, state_bytes, trained_state_bytes
    from trainer.networks import DATASET_ARCHITECTURE, generator

    cfg = TrialConfig.from_dict({"model": model, "dataset": dataset, "width": width, "latent_dim": latent_dim,
                                 "prior_matching": prior_matching, "device": "cpu"}, source="the sweep's trials")
    size = checkpoint_bytes(cfg)
    if critic_width is not None:
        arch = DATASET_ARCHITECTURE[dataset]
        with torch.device("meta"):                   # shapes only, as checkpoint_bytes does
            size += state_bytes(generator(arch, latent_dim, width))        # the generator the critic is on
        with networks_too_large_to_build(f"independent_critic.width {critic_width:g}", "independent_critic.width"), \
                torch.device("meta"):
            size += trained_state_bytes(critic_network(arch, critic_width))
    return size


def trial_checkpoint_bytes(hp: dict, spec: SweepSpec) -> int:
    critic = spec.independent_critic
    return _checkpoint_bytes(hp["model"], hp["dataset"], hp["width"], hp["latent_dim"], hp["prior_matching"],
                             (critic.width or hp["width"]) if critic.enabled else None)


def sweep_checkpoint_bytes(spec: SweepSpec) -> int:
    """The storage the sweep's checkpoints need once every trial has run, and one more being
    written (Optuna: its samples, each at the grid's largest checkpoint)."""
    try:
        sizes = [trial_checkpoint_bytes(hp, spec) for hp in spec.trials]
    except ConfigError as err:                   # networks too large to build: the spec says so
        raise SpecError(f"{spec.path}: {err}") from None
    total = sum(sizes) if spec.search == "grid" else spec.num_samples * max(sizes)
    return COPIES * total + max(sizes)


def check_storage_room(spec: SweepSpec, storage: Path) -> None:
    """A new sweep whose checkpoints cannot fit on its storage's disk: one line before it starts."""
    need, free = sweep_checkpoint_bytes(spec), shutil.disk_usage(nearest_existing(storage)).free
    if need > free:
        raise UsageError(f"sweep {spec.name}'s checkpoints need about {in_binary_units(need)} on --storage {storage} "
                         f"({spec.trial_count} trials, {COPIES} copies of each trial's latest checkpoint), but its "
                         f"disk has {in_binary_units(free)} free: free space there, pass a --storage with room, or "
                         "sweep fewer trials")
