"""Sample and reconstruction grids, saved with torchvision."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import save_image


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> Path:
    """Images in [-1, 1] as one PNG grid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.detach().cpu(), path, nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)
    return path


def save_reconstruction_grid(real: torch.Tensor, reconstructed: torch.Tensor, path: Path,
                             pairs_per_row: int = 8) -> Path:
    """Each real image followed by its reconstruction, ``pairs_per_row`` pairs per row."""
    pairs = torch.stack([real.detach().cpu(), reconstructed.detach().cpu()], dim=1).flatten(0, 1)
    return save_grid(pairs, path, nrow=2 * pairs_per_row)
