"""AGE, Adversarial Generator-Encoder networks (Ulyanov et al. 2017), as the paper ran it.

Latents live on the unit sphere (prior: uniform on the sphere; the encoder's output is
projected onto it). The encoder pulls real codes toward N(0, I) and pushes generated codes
away; the generator pulls its codes toward N(0, I). Reconstructions: L1 in image space for the
encoder, cosine in code space for the generator. Generator updated ``generator_updates`` (2)
times per encoder update.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import networks
from .base import Algorithm, batch_kl_to_standard_normal, l1_reconstruction


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (1 - F.cosine_similarity(a, b, dim=1)).mean()


class AGE(Algorithm):
    name = "age"
    reported = ("encoder", "generator", "reconstruction_l1")
    has_encoder = True

    @staticmethod
    def build_networks(cfg, arch):
        return {
            "generator": networks.generator(arch, cfg.latent_dim, cfg.width),
            "encoder": networks.age_encoder(arch, cfg.latent_dim, cfg.width),
        }

    def sample_prior(self, n, generator=None):
        """Uniform on the unit sphere (Appendix H.3)."""
        return F.normalize(super().sample_prior(n, generator), dim=1)

    def encoder_loss(self, x, e_real, x_rec, e_gen):
        # KL(E(x)) - KL(E(G(z))) + lambda_x * ||x - G(E(x))||_1
        return (batch_kl_to_standard_normal(e_real) - batch_kl_to_standard_normal(e_gen)
                + self.cfg.age_recon_weight_x * l1_reconstruction(x, x_rec))

    def generator_loss(self, z, e_gen):
        # KL(E(G(z))) + lambda_z * cosine_distance(z, E(G(z)))
        return (batch_kl_to_standard_normal(e_gen)
                + self.cfg.age_recon_weight_z * cosine_distance(z, e_gen))

    def losses(self, x, z):
        G, E = self.nets["generator"], self.nets["encoder"]
        e_real = E(x)
        x_gen = G(z)
        return {"encoder": self.encoder_loss(x, e_real, G(e_real), E(x_gen.detach())),
                "generator": self.generator_loss(z, E(x_gen))}

    def step_tensors(self, x):
        """Encoder once, then the generator ``generator_updates`` times with fresh losses.
        One z per iteration."""
        G, E = self.nets["generator"], self.nets["encoder"]
        z = self.sample_prior(x.shape[0])
        with torch.no_grad():
            x_gen = G(z)
        e_real = E(x)
        x_rec = G(e_real)
        loss_e = self.encoder_loss(x, e_real, x_rec, E(x_gen))
        self.update("encoder", loss_e)
        for _ in range(self.cfg.generator_updates):
            loss_g = self.generator_loss(z, E(G(z)))
            self.update("generator", loss_g)
        return {"encoder": loss_e.detach(), "generator": loss_g.detach(),
                "reconstruction_l1": l1_reconstruction(x, x_rec).detach()}
