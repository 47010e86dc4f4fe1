"""α-GAN, Algorithm 1 of Rosca et al. (2017), line by line.

With logits l: D(x) = sigmoid(l), so
  R(x) = -log D(x) + log(1 - D(x)) = -l          (lines 3-4: the ratio of the two terms)
  -log D(x)      = softplus(-l)
  -log(1 - D(x)) = softplus(l)
The code discriminator treats prior samples z ~ p(z) as real and encoder codes as fake.

Appendix D's ablation (``prior_matching: empirical_kl``): the encoder matches the prior with the
empirical KL of its batch of codes (eq 18 divided by the latent size) in place of the code
discriminator, which is then not built and line 9 is skipped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import networks
from .base import Algorithm, batch_kl_to_standard_normal, l1_reconstruction


class AlphaGAN(Algorithm):
    name = "alphagan"
    reported = ("encoder", "generator", "discriminator", "code_discriminator", "reconstruction_l1")
    has_encoder = True
    #: the methods that compute losses from network outputs (fused training runs them per trial)
    loss_terms = ("encoder_loss", "generator_loss", "discriminator_loss", "code_discriminator_loss",
                  "reconstruction_l1")
    reconstruction_l1 = staticmethod(l1_reconstruction)
    #: Appendix D's ablation: the empirical KL in place of the code discriminator
    empirical_kl = False

    def __init__(self, cfg, device):
        super().__init__(cfg, device)
        self.empirical_kl = cfg.prior_matching == "empirical_kl"
        if self.empirical_kl:                                                    # Appendix D
            self.reported = tuple(k for k in self.reported if k != "code_discriminator")

    @staticmethod
    def build_networks(cfg, arch):
        gen = networks.generator(arch, cfg.latent_dim, cfg.width)
        nets = {
            "generator": gen,                                                    # G_theta
            "encoder": networks.transposed_encoder(arch, gen, cfg.latent_dim, cfg.width),
            "discriminator": networks.discriminator(arch, batch_norm=True, width=cfg.width),
        }
        if cfg.prior_matching != "empirical_kl":
            nets["code_discriminator"] = networks.CodeDiscriminator(cfg.latent_dim)   # C_omega
        return nets

    # Each loss below is one line of Algorithm 1. D sees real, reconstructed and sampled
    # images as three separate batches (three batch-norm statistics).
    def encoder_loss(self, x, x_rec, c_code):
        # eq 11: lambda * ||x - x_hat||_1 + R_C(z_hat)
        return (self.cfg.recon_weight_encoder * l1_reconstruction(x, x_rec)
                + self.cfg.adv_weight_encoder * (-c_code).mean())

    def encoder_kl_loss(self, x, x_rec, z_hat):
        # Appendix D: eq 11 with the empirical KL of the codes (eq 18 / latent size) for R_C(z_hat)
        return (self.cfg.recon_weight_encoder * l1_reconstruction(x, x_rec)
                + self.cfg.adv_weight_encoder * batch_kl_to_standard_normal(z_hat))

    def prior_matching_loss(self, x, x_rec, z_hat):
        """The encoder's loss: eq 11, or its Appendix D ablation."""
        if self.empirical_kl:
            return self.encoder_kl_loss(x, x_rec, z_hat)
        return self.encoder_loss(x, x_rec, self.nets["code_discriminator"](z_hat))

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
        G, E, D = (self.nets[k] for k in ("generator", "encoder", "discriminator"))
        z_hat = E(x)                      # line 2: z_hat ~ q_eta(z|x)
        x_rec = G(z_hat)                  # line 2: x_hat = G(z_hat)
        x_gen = G(z)                      # G(z), z ~ p(z)
        d_real, d_rec, d_gen = D(x), D(x_rec), D(x_gen)
        losses = {
            "encoder": self.prior_matching_loss(x, x_rec, z_hat),
            "generator": self.generator_loss(x, x_rec, d_rec, d_gen),
            "discriminator": self.discriminator_loss(d_real, d_rec, d_gen),
        }
        if not self.empirical_kl:
            C = self.nets["code_discriminator"]
            losses["code_discriminator"] = self.code_discriminator_loss(C(z_hat), C(z))
        return losses

    def step_tensors(self, x):
        """Lines 6-9 with the paper's schedule: (encoder, generator) updated
        ``generator_updates`` times, each with a freshly computed loss, then the discriminator
        and the code discriminator once. One x and one z ~ p(z) per iteration.

        Forwards are shared only where the network is unchanged in between: the codes computed
        after an encoder update (line 7) are those of the next encoder update (line 6, only the
        generator changed in between; kept with their graph) and of lines 8-9. So the encoder
        runs 3 times per iteration instead of 5 (its batch-norm running statistics see the batch
        as often); every loss and update is that of the obvious implementation."""
        G, E, D = (self.nets[k] for k in ("generator", "encoder", "discriminator"))
        z = self.sample_prior(x.shape[0])
        updates = self.cfg.generator_updates
        z_hat = E(x)                                                         # line 6: E(x)
        for k in range(updates):
            x_rec = G(z_hat)
            loss_e = self.prior_matching_loss(x, x_rec, z_hat)
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
        reported = {"encoder": loss_e.detach(), "generator": loss_g.detach(), "discriminator": loss_d.detach()}
        if not self.empirical_kl:
            C = self.nets["code_discriminator"]
            loss_c = self.code_discriminator_loss(C(z_hat), C(z))           # line 9
            self.update("code_discriminator", loss_c)
            reported["code_discriminator"] = loss_c.detach()
        reported["reconstruction_l1"] = self.reconstruction_l1(x, x_rec).detach()
        return reported
