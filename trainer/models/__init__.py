"""The four models. ``build_algorithm(cfg)`` gives networks and optimizers on ``cfg.device``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..config import ConfigError, TrialConfig
from ..networks import DATASET_ARCHITECTURE
from .age import AGE
from .alphagan import AlphaGAN
from .base import Algorithm
from .dcgan import DCGAN
from .wgangp import WGANGP

ALGORITHMS: dict[str, type[Algorithm]] = {"alphagan": AlphaGAN, "dcgan": DCGAN,
                                          "wgangp": WGANGP, "age": AGE}


def build_algorithm(cfg: TrialConfig) -> Algorithm:
    """Networks and optimizers for ``cfg`` on its device; reads no data. Seeds torch's global
    generator with ``cfg.seed`` so that the initial weights are a function of the seed."""
    torch.manual_seed(cfg.seed)
    return ALGORITHMS[cfg.model](cfg, torch.device(cfg.resolved_device()))


def state_bytes(net: nn.Module) -> int:
    """A network's state (weights and buffers) in bytes."""
    return sum(t.numel() * t.element_size() for t in net.state_dict().values())


def trained_state_bytes(net: nn.Module) -> int:
    """A network's state with Adam's: its weights and buffers, and two moments per trainable weight."""
    return state_bytes(net) + 2 * sum(p.numel() * p.element_size() for p in net.parameters() if p.requires_grad)


def checkpoint_bytes(cfg: TrialConfig) -> int:
    """What the networks and their optimizers take in a checkpoint of ``cfg``'s trial (the rest of
    a checkpoint, RNG states and the data order, is small beside them). The networks are built on
    the meta device: shapes only, no memory, however large."""
    with networks_too_large_to_build(f"width {cfg.width:g} with latent_dim {cfg.latent_dim}", "width or latent_dim"), \
            torch.device("meta"):
        nets = ALGORITHMS[cfg.model].build_networks(cfg, DATASET_ARCHITECTURE[cfg.dataset])
    return sum(trained_state_bytes(net) for net in nets.values())


@contextmanager
def networks_too_large_to_build(settings: str, smaller: str) -> Iterator[None]:
    """A network whose tensors' sizes overflow 64 bits (a width of 10^12, a latent_dim of 10^16)
    cannot even be built on the meta device; torch says so in a RuntimeError or TypeError that
    names no setting. ``smaller``: the settings to lower."""
    try:
        yield
    except (RuntimeError, TypeError, OverflowError):
        raise ConfigError(f"{settings} gives networks too large to build (a tensor's size overflows 64 bits); "
                          f"use a smaller {smaller} (the paper's networks have width 1)") from None


__all__ = ["Algorithm", "AlphaGAN", "DCGAN", "WGANGP", "AGE", "ALGORITHMS", "build_algorithm", "checkpoint_bytes",
           "networks_too_large_to_build", "state_bytes", "trained_state_bytes"]
