"""Stacked digits: three random digits as the R, G and B channels, 10^3 = 1000 modes
(ColorMNIST in the paper; "stacked MNIST" in the Unrolled-GAN, VEEGAN and PacGAN papers)."""

from __future__ import annotations

import numpy as np
import torch


def stack_digits(images: np.ndarray, labels: np.ndarray, count: int,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` images ``[count, 3, H, W]`` (uint8) made of 3 digits drawn uniformly with
    replacement from ``images`` ``[N, H, W]``, and their digits ``[count, 3]``."""
    picks = rng.integers(0, len(images), size=(count, 3))
    stacked = torch.from_numpy(np.ascontiguousarray(images[picks]))       # [count, 3, H, W]
    digits = torch.from_numpy(labels[picks].astype(np.int64))
    return stacked, digits


def mode_index(digits: torch.Tensor) -> torch.Tensor:
    """The mode (0..999) of each stacked image from its three digits."""
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def split_indices(n: int, sizes: tuple[int, int, int], seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    a, b = sizes[0], sizes[0] + sizes[1]
    return [order[:a], order[a:b], order[b:b + sizes[2]]]
