"""Sample and reconstruction grids, saved with torchvision. The paper's images are 28-64 px: each
is enlarged by a whole factor (nearest neighbour, no blur) to at least ``MIN_PIXELS`` per side, so
a grid reads at a glance in the MLflow artifact viewer and in reports."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from .atomic_files import atomic_write

MIN_PIXELS = 96


def upscale(images: torch.Tensor, min_pixels: int = MIN_PIXELS) -> torch.Tensor:
    """``[N, C, H, W]`` images enlarged by the smallest whole factor giving at least ``min_pixels``
    per side, each pixel repeated (nearest neighbour)."""
    factor = max(1, math.ceil(min_pixels / min(images.shape[-2:])))
    return images if factor == 1 else F.interpolate(images, scale_factor=factor, mode="nearest")


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> Path:
    """Images in [-1, 1] as one PNG grid, each image upscaled to at least ``MIN_PIXELS``; written
    atomically (a full disk leaves no truncated PNG)."""
    from torchvision.utils import save_image  # imported here: torchvision is slow to import

    path.parent.mkdir(parents=True, exist_ok=True)
    grid = upscale(images.detach().cpu().float())
    atomic_write(path, lambda tmp: save_image(grid, tmp, format="png", nrow=nrow, normalize=True,
                                              value_range=(-1, 1), padding=2))
    return path


def save_channel_grid(images: torch.Tensor, path: Path, per_row: int = 8) -> Path:
    """Stacked digits seen channel by channel: for each ``per_row`` images, three rows (R, G, B)
    of grey digits, so that each generated digit can be read on its own."""
    images = images.detach().cpu()[: (len(images) // per_row) * per_row]
    blocks = images.view(-1, per_row, 3, *images.shape[-2:]).transpose(1, 2)   # [blocks, 3, row, H, W]
    grey = blocks.reshape(-1, 1, *images.shape[-2:]).expand(-1, 3, -1, -1)
    return save_grid(grey, path, nrow=per_row)


def save_reconstruction_grid(real: torch.Tensor, reconstructed: torch.Tensor, path: Path,
                             pairs_per_row: int = 8) -> Path:
    """Each real image followed by its reconstruction, ``pairs_per_row`` pairs per row."""
    pairs = torch.stack([real.detach().cpu(), reconstructed.detach().cpu()], dim=1).flatten(0, 1)
    return save_grid(pairs, path, nrow=2 * pairs_per_row)
