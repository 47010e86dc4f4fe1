"""α-GAN, Algorithm 1 of Rosca et al. (2017), line by line.

With logits l: D(x) = sigmoid(l), so
  R(x) = -log D(x) + log(1 - D(x)) = -l          (lines 3-4: the ratio of the two terms)
  -log D(x)      = softplus(-l)
  -log(1 - D(x)) = softplus(l)
The code discriminator treats prior samples z ~ p(z) as real and encoder codes as fake.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import networks
from .base import Algorithm, l1_reconstruction


class AlphaGAN(Algorithm):
    name = "alphagan"
    reported = ("encoder", "generator", "discriminator", "code_discriminator", "reconstruction_l1")
    has_encoder = True
    #: the methods that compute losses from network outputs (fused training runs them per trial)
    loss_terms = ("encoder_loss", "generator_loss", "discriminator_loss", "code_discriminator_loss",
                  "reconstruction_l1")
    reconstruction_l1 = staticmethod(l1_reconstruction)

    def __init__(self, cfg, device):
        super().__init__(cfg, device)
        gen = networks.generator(self.arch, cfg.latent_dim, cfg.width)
        self.nets = {
            "generator": gen,                                                    # G_theta
            "encoder": networks.transposed_encoder(self.arch, gen, cfg.latent_dim, cfg.width),
            "discriminator": networks.discriminator(self.arch, batch_norm=True, width=cfg.width),
            "code_discriminator": networks.CodeDiscriminator(cfg.latent_dim),    # C_omega
        }
        self._finish_build()

    # Each loss below is one line of Algorithm 1. D sees real, reconstructed and sampled
    # images as three separate batches (three batch-norm statistics).
    def encoder_loss(self, x, x_rec, c_code):
        # eq 11: lambda * ||x - x_hat||_1 + R_C(z_hat)
        return (self.cfg.recon_weight_encoder * l1_reconstruction(x, x_rec)
                + self.cfg.adv_weight_encoder * (-c_code).mean())

    def generator_loss(self, x, x_rec, d_rec, d_gen):
        # eq 13: lambda * ||x - x_hat||_1 + R_D(x_hat) + R_D(G(z))
        return (self.cfg.recon_weight_generator * l1_reconstruction(x, x_rec)
                + self.cfg.adv_weight_generator * ((-d_rec).mean() + (-d_gen).mean()))

    def discriminator_loss(self, d_real, d_rec, d_gen):
        # eq 15 (real weight 1; eq 14 with disc_real_weight=2):
        # -log D(x) - log(1 - D(x_hat)) - log(1 - D(G(z)))
        return (self.cfg.disc_real_weight * F.softplus(-d_real).mean()
                + F.softplus(d_rec).mean() + F.softplus(d_gen).mean())

    @staticmethod
    def code_discriminator_loss(c_code, c_prior):
        # eq 17: -log(1 - C(z_hat)) - log C(z); z ~ p(z) real, z_hat = E(x) fake
        return F.softplus(c_code).mean() + F.softplus(-c_prior).mean()

    def losses(self, x, z):
        G, E, D, C = (self.nets[k] for k in ("generator", "encoder", "discriminator",
                                             "code_discriminator"))
        z_hat = E(x)                      # line 2: z_hat ~ q_eta(z|x)
        x_rec = G(z_hat)                  # line 2: x_hat = G(z_hat)
        x_gen = G(z)                      # G(z), z ~ p(z)
        d_real, d_rec, d_gen = D(x), D(x_rec), D(x_gen)
        c_code, c_prior = C(z_hat), C(z)
        return {
            "encoder": self.encoder_loss(x, x_rec, c_code),
            "generator": self.generator_loss(x, x_rec, d_rec, d_gen),
            "discriminator": self.discriminator_loss(d_real, d_rec, d_gen),
            "code_discriminator": self.code_discriminator_loss(c_code, c_prior),
        }

    def step_tensors(self, x):
        """Lines 6-9 with the paper's schedule: (encoder, generator) updated
        ``generator_updates`` times, each with a freshly computed loss, then the discriminator
        and the code discriminator once. One x and one z ~ p(z) per iteration.

        Forwards are shared only where the network is unchanged in between: the codes computed
        after an encoder update (line 7) are those of the next encoder update (line 6, only the
        generator changed in between; kept with their graph) and of lines 8-9. So the encoder
        runs 3 times per iteration instead of 5 (its batch-norm running statistics see the batch
        as often); every loss and update is that of the obvious implementation."""
        G, E, D, C = (self.nets[k] for k in ("generator", "encoder", "discriminator",
                                             "code_discriminator"))
        z = self.sample_prior(x.shape[0])
        updates = self.cfg.generator_updates
        z_hat = E(x)                                                         # line 6: E(x)
        for k in range(updates):
            x_rec = G(z_hat)
            loss_e = self.encoder_loss(x, x_rec, C(z_hat))
            self.update("encoder", loss_e)
            with torch.set_grad_enabled(k < updates - 1):                   # line 7 (and next line 6)
                z_hat = E(x)
            x_rec, x_gen = G(z_hat.detach()), G(z)
            loss_g = self.generator_loss(x, x_rec, D(x_rec), D(x_gen))
            self.update("generator", loss_g)
        with torch.no_grad():
            x_rec, x_gen = G(z_hat), G(z)
        loss_d = self.discriminator_loss(D(x), D(x_rec), D(x_gen))          # line 8
        self.update("discriminator", loss_d)
        loss_c = self.code_discriminator_loss(C(z_hat), C(z))               # line 9
        self.update("code_discriminator", loss_c)
        return {"encoder": loss_e.detach(), "generator": loss_g.detach(),
                "discriminator": loss_d.detach(), "code_discriminator": loss_c.detach(),
                "reconstruction_l1": self.reconstruction_l1(x, x_rec).detach()}
