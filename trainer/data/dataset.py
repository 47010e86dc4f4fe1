"""The in-memory dataset every loader returns: uint8 image tensors per split."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import DatasetError


@dataclass
class ImageDataset:
    """Train / validation / test images as uint8 tensors ``[N, C, H, W]``.

    ``labels`` holds, for stacked digit datasets, the digit of each channel (``[N, 3]``),
    which defines the 1000 modes.
    """

    name: str
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            images = getattr(self, split)
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise DatasetError(f"{self.name}: {split} split must be uint8 [N, C, H, W], "
                                   f"got {images.dtype} {tuple(images.shape)}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])

    def split(self, name: str) -> torch.Tensor:
        return {"train": self.train, "val": self.val, "validation": self.val, "test": self.test}[name]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)
