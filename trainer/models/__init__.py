"""The four models. ``build_algorithm(cfg)`` gives networks and optimizers on ``cfg.device``."""

from __future__ import annotations

import torch

from ..config import TrialConfig
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


__all__ = ["Algorithm", "AlphaGAN", "DCGAN", "WGANGP", "AGE", "ALGORITHMS", "build_algorithm"]
