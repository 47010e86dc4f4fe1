"""The independent Wasserstein critic (Section 5, Figure 13): a WGAN-GP critic trained on held-out
validation data against a generator's samples, never touching the generator's training.

It is the discriminator's network without batch norm, gradient penalty 10, Adam (betas 0.5, 0.9).
It can be started at any iteration, advanced a number of steps against the current generator,
checkpointed and resumed. It reports -W = E[C(fake)] - E[C(real)] (0 is best, more negative is
worse) on one validation mini-batch and averaged over the whole test split.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .. import networks
from ..data import BatchSampler, to_float
from ..models.wgangp import gradient_penalty
from ..networks.architectures import Architecture

SampleFn = Callable[[int], torch.Tensor]   # n -> n samples in [-1, 1], no gradient needed


def critic_network(arch: Architecture, width: float = 1.0) -> nn.Module:
    """The independent critic's network: the architecture's discriminator without batch norm
    (WGAN-GP's gradient penalty is per sample)."""
    return networks.discriminator(arch, batch_norm=False, width=width)


class IndependentCritic:
    def __init__(self, arch: Architecture, val_images: torch.Tensor, test_images: torch.Tensor, *,
                 device: str | torch.device = "cpu", batch_size: int = 64, lr: float = 1e-4,
                 gp_weight: float = 10.0, width: float = 1.0, seed: int = 0):
        self.device = torch.device(device)
        self.gp_weight = gp_weight
        self.batch_size = batch_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = critic_network(arch, width).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.5, 0.9))
        self.val = BatchSampler(val_images, batch_size, seed=seed + 1, device=self.device)
        self.test_images = test_images
        self.rng = torch.Generator(device=self.device).manual_seed(seed + 2)
        self.steps = 0

    def prior_generator(self) -> torch.Generator:
        """The generator the trial should draw the critic's prior samples from (not its own)."""
        return self.rng

    def train(self, sample: SampleFn, steps: int) -> float:
        """``steps`` critic updates on validation batches against fresh samples; last loss."""
        loss = torch.zeros(())
        for _ in range(steps):
            real = self.val.next()
            with torch.no_grad():
                fake = sample(len(real)).to(self.device)
            eps = torch.rand(len(real), 1, 1, 1, device=self.device, generator=self.rng)
            loss = (self.net(fake).mean() - self.net(real).mean()
                    + self.gp_weight * gradient_penalty(self.net, real, fake, eps))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.steps += 1
        return loss.item()

    @torch.no_grad()
    def neg_w_validation(self, sample: SampleFn) -> float:
        """-W on one validation mini-batch."""
        real = self.val.next()
        return float(self.net(sample(len(real)).to(self.device)).mean() - self.net(real).mean())

    @torch.no_grad()
    def neg_w_test(self, sample: SampleFn, batch_size: int = 500) -> float:
        """-W averaged over the whole test split (each batch against as many samples)."""
        total, count = 0.0, 0
        for chunk in self.test_images.split(batch_size):
            real = to_float(chunk.to(self.device))
            fake = sample(len(real)).to(self.device)
            total += float(self.net(fake).sum() - self.net(real).sum())
            count += len(real)
        return total / count

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "val": self.val.state_dict(), "rng": self.rng.get_state(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.val.load_state_dict(state["val"])
        self.rng.set_state(state["rng"])
        self.steps = state["steps"]
