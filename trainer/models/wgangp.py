"""WGAN-GP (Gulrajani et al. 2017): ``critic_iters`` (5) critic updates, each on its own real
batch, per generator update; gradient penalty ``gp_weight`` (10) on random interpolates. The
critic has no batch norm, since the penalty is per sample."""

from __future__ import annotations

import torch

from .. import networks
from .base import Algorithm


def gradient_penalty(critic, x_real, x_fake, eps):
    """E[(||grad_x D(x_interp)||_2 - 1)^2], x_interp = eps * x_real + (1 - eps) * x_fake."""
    x_interp = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(x_interp).sum(), x_interp, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class WGANGP(Algorithm):
    name = "wgangp"
    reported = ("discriminator", "generator")

    def __init__(self, cfg, device):
        super().__init__(cfg, device)
        self.real_batches_per_step = cfg.critic_iters

    @staticmethod
    def build_networks(cfg, arch):
        return {
            "generator": networks.generator(arch, cfg.latent_dim, cfg.width),
            "discriminator": networks.discriminator(arch, batch_norm=False, width=cfg.width),
        }

    random_draw_methods = ("sample_prior", "interpolation_weights")

    def interpolation_weights(self, n):
        return torch.rand(n, 1, 1, 1, device=self.device, generator=self.rng)

    def critic_loss(self, x, x_gen, eps):
        # D(G(z)) - D(x) + lambda * GP
        D = self.nets["discriminator"]
        return (D(x_gen).mean() - D(x).mean()
                + self.cfg.gp_weight * gradient_penalty(D, x, x_gen, eps))

    def losses(self, x, z):
        """Draws the interpolation weights from ``self.rng``."""
        x_gen = self.nets["generator"](z)
        eps = self.interpolation_weights(x.shape[0])
        return {"discriminator": self.critic_loss(x, x_gen.detach(), eps),
                "generator": -self.nets["discriminator"](x_gen).mean()}

    def step_tensors(self, x):
        """``x`` holds ``critic_iters`` real batches. Per critic update: z, then eps, drawn
        from ``self.rng``; then one z for the generator update."""
        G, D = self.nets["generator"], self.nets["discriminator"]
        for x_real in x.chunk(self.cfg.critic_iters):
            z = self.sample_prior(x_real.shape[0])
            with torch.no_grad():
                x_gen = G(z)
            loss_d = self.critic_loss(x_real, x_gen, self.interpolation_weights(x_real.shape[0]))
            self.update("discriminator", loss_d)
        z = self.sample_prior(x_real.shape[0])
        loss_g = -D(G(z)).mean()
        self.update("generator", loss_g)
        return {"discriminator": loss_d.detach(), "generator": loss_g.detach()}
