"""DCGAN with the non-saturating generator loss; the generator is updated ``generator_updates``
(2) times per discriminator update, as in the DCGAN-tensorflow code the paper follows."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import networks
from .base import Algorithm


class DCGAN(Algorithm):
    name = "dcgan"
    reported = ("discriminator", "generator")

    @staticmethod
    def build_networks(cfg, arch):
        return {
            "generator": networks.generator(arch, cfg.latent_dim, cfg.width),
            # Table 3: dropout (keep probability 0.8) after the last convolution, DCGAN only.
            "discriminator": networks.discriminator(arch, batch_norm=True, dropout=cfg.dcgan_dropout,
                                                    width=cfg.width),
        }

    @staticmethod
    def discriminator_loss(d_real, d_gen):
        # -log D(x) - log(1 - D(G(z)))
        return F.softplus(-d_real).mean() + F.softplus(d_gen).mean()

    @staticmethod
    def generator_loss(d_gen):
        # non-saturating: -log D(G(z))
        return F.softplus(-d_gen).mean()

    def losses(self, x, z):
        G, D = self.nets["generator"], self.nets["discriminator"]
        d_gen = D(G(z))
        return {"discriminator": self.discriminator_loss(D(x), d_gen),
                "generator": self.generator_loss(d_gen)}

    def step_tensors(self, x):
        """Discriminator once, then the generator ``generator_updates`` times, each with a
        fresh loss. One z ~ p(z) per iteration."""
        G, D = self.nets["generator"], self.nets["discriminator"]
        z = self.sample_prior(x.shape[0])
        with torch.no_grad():
            x_gen = G(z)
        loss_d = self.discriminator_loss(D(x), D(x_gen))
        self.update("discriminator", loss_d)
        for _ in range(self.cfg.generator_updates):
            loss_g = self.generator_loss(D(G(z)))
            self.update("generator", loss_g)
        return {"discriminator": loss_d.detach(), "generator": loss_g.detach()}
