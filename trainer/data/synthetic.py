"""A small generated dataset for fast tests: coloured blobs on a dark background, 28x28 RGB,
made deterministically on the fly (no files)."""

from __future__ import annotations

import torch

from .dataset import ImageDataset

SIZES = {"train": 2_000, "val": 500, "test": 500}


def make_blobs(count: int, generator: torch.Generator, size: int = 28) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    centres = torch.rand(count, 2, generator=generator) * (size - 12) + 6
    radius = torch.rand(count, 1, 1, generator=generator) * 4 + 3
    colours = torch.rand(count, 3, 1, 1, generator=generator) * 0.8 + 0.2
    dist2 = (yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2
    blob = torch.exp(-dist2 / (2 * radius ** 2)).unsqueeze(1)          # [N, 1, H, W]
    return (blob * colours * 255).round().clamp(0, 255).to(torch.uint8)


def load_synthetic(log=print) -> ImageDataset:
    generator = torch.Generator().manual_seed(0)
    splits = {name: make_blobs(n, generator) for name, n in SIZES.items()}
    return ImageDataset("synthetic", splits["train"], splits["val"], splits["test"],
                        note="synthetic: generated coloured blobs, 28x28 (for tests)")
