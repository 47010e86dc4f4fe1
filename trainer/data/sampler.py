"""Mini-batches sampled on the training device from a dataset held there as uint8."""

from __future__ import annotations

import torch

from ..errors import DatasetError
from .dataset import to_float


class BatchSampler:
    """Shuffled epochs without replacement; the permutation comes from a generator on the
    device, so no batch is decoded or copied from the host during training. The position in
    the epoch and the generator state are part of the checkpoint."""

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, device: torch.device):
        if len(images) < batch_size:
            raise DatasetError(f"the split sampled has {len(images)} images, fewer than a batch of "
                               f"{batch_size}: use a smaller batch_size or more data")
        self.images = images.to(device)
        self.batch_size = batch_size
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.order = self._new_order()
        self.position = 0
        self.epoch = 0

    def _new_order(self) -> torch.Tensor:
        return torch.randperm(len(self.images), device=self.device, generator=self.generator)

    def indices(self, count: int) -> torch.Tensor:
        parts, needed = [], count
        while needed > 0:
            if self.position == len(self.order):
                self.order, self.position = self._new_order(), 0
                self.epoch += 1
            take = min(needed, len(self.order) - self.position)
            parts.append(self.order[self.position:self.position + take])
            self.position += take
            needed -= take
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def next(self, batches: int = 1) -> torch.Tensor:
        """``batches`` mini-batches stacked along dim 0, as float in [-1, 1]."""
        return to_float(self.images[self.indices(batches * self.batch_size)])

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order.cpu(),
                "position": self.position, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"].to(self.device)
        self.position, self.epoch = state["position"], state["epoch"]
