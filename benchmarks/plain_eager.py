"""The same algorithms written the obvious way, for comparison: every update recomputes its
forward passes with full autograd graphs and calls zero_grad() / backward() / step()."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce(logits, real: bool):
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def stock_pytorch(algo):
    """The algorithm's networks with stock PyTorch layers (nn.ConvTranspose2d everywhere) and
    stock Adam optimizers (default implementation): what a plain script would use."""
    from torch import nn

    for net in algo.nets.values():
        for module in net.modules():
            if isinstance(module, nn.ConvTranspose2d):
                module.__class__ = nn.ConvTranspose2d
    return {name: torch.optim.Adam(net.parameters(), lr=algo.learning_rate(name),
                                   betas=(algo.cfg.adam_beta1, algo.cfg.adam_beta2))
            for name, net in algo.nets.items()}


def make_plain_step(algo):
    cfg, nets, opts = algo.cfg, algo.nets, stock_pytorch(algo)
    G, D = nets["generator"], nets.get("discriminator")      # AGE has no discriminator

    def minimize(name, loss):
        opts[name].zero_grad()
        loss.backward()
        opts[name].step()

    def alphagan(x):
        E, C = nets["encoder"], nets["code_discriminator"]
        z = torch.randn(x.shape[0], cfg.latent_dim, device=x.device)
        for _ in range(cfg.generator_updates):
            z_hat = E(x)
            minimize("encoder", cfg.recon_weight_encoder * (x - G(z_hat)).abs().mean() - C(z_hat).mean())
            x_hat = G(E(x))
            minimize("generator", cfg.recon_weight_generator * (x - x_hat).abs().mean()
                     - D(x_hat).mean() - D(G(z)).mean())
        z_hat = E(x)
        minimize("discriminator", bce(D(x), True) + bce(D(G(z_hat).detach()), False)
                 + bce(D(G(z).detach()), False))
        minimize("code_discriminator", bce(C(z), True) + bce(C(z_hat.detach()), False))

    def dcgan(x):
        z = torch.randn(x.shape[0], cfg.latent_dim, device=x.device)
        minimize("discriminator", bce(D(x), True) + bce(D(G(z).detach()), False))
        for _ in range(cfg.generator_updates):
            minimize("generator", bce(D(G(z)), True))

    def wgangp(x):
        for x_real in x.chunk(cfg.critic_iters):
            fake = G(torch.randn(x_real.shape[0], cfg.latent_dim, device=x.device)).detach()
            eps = torch.rand(x_real.shape[0], 1, 1, 1, device=x.device)
            mix = (eps * x_real + (1 - eps) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(D(mix).sum(), mix, create_graph=True)
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            minimize("discriminator", D(fake).mean() - D(x_real).mean() + cfg.gp_weight * gp)
        minimize("generator", -D(G(torch.randn(cfg.batch_size, cfg.latent_dim, device=x.device))).mean())

    def age(x):
        from trainer.models.age import batch_kl_to_standard_normal as kl
        E = nets["encoder"]
        z = F.normalize(torch.randn(x.shape[0], cfg.latent_dim, device=x.device), dim=1)
        e_x = E(x)
        minimize("encoder", kl(e_x) - kl(E(G(z).detach()))
                 + cfg.age_recon_weight_x * (x - G(e_x)).abs().mean())
        for _ in range(cfg.generator_updates):
            e_gen = E(G(z))
            minimize("generator", kl(e_gen) + cfg.age_recon_weight_z
                     * (1 - F.cosine_similarity(z, e_gen, dim=1)).mean())

    return {"alphagan": alphagan, "dcgan": dcgan, "wgangp": wgangp, "age": age}[cfg.model]
