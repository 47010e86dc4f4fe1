"""Reference computations written straight from the paper, independent of trainer.models:
probabilities and logs instead of logits, plain ``loss.backward()`` updates. Used in float64."""

from __future__ import annotations

import torch


def sigmoid(logit):
    return 1.0 / (1.0 + torch.exp(-logit))


def R(p):
    """Algorithm 1, lines 3-4: R(p) = -log p + log(1 - p)."""
    return -torch.log(p) + torch.log(1 - p)


def l1(x, y):
    return (x - y).abs().flatten(1).mean(1).mean()


def alphagan(nets, x, z, cfg):
    G, E, D, C = nets["generator"], nets["encoder"], nets["discriminator"], nets["code_discriminator"]
    z_hat = E(x)
    x_hat = G(z_hat)
    x_gen = G(z)
    d_x, d_xhat, d_gen = sigmoid(D(x)), sigmoid(D(x_hat)), sigmoid(D(x_gen))
    c_zhat, c_z = sigmoid(C(z_hat)), sigmoid(C(z))
    return {
        # eq 11
        "encoder": cfg.recon_weight_encoder * l1(x, x_hat) + cfg.adv_weight_encoder * R(c_zhat).mean(),
        # eq 13
        "generator": cfg.recon_weight_generator * l1(x, x_hat)
                     + cfg.adv_weight_generator * (R(d_xhat).mean() + R(d_gen).mean()),
        # eq 15 (eq 14 when the real weight is 2)
        "discriminator": (-cfg.disc_real_weight * torch.log(d_x) - torch.log(1 - d_xhat)).mean()
                         - torch.log(1 - d_gen).mean(),
        # eq 17: prior samples real, encoder codes fake
        "code_discriminator": -torch.log(1 - c_zhat).mean() - torch.log(c_z).mean(),
    }


def dcgan(nets, x, z, cfg):
    G, D = nets["generator"], nets["discriminator"]
    d_x, d_gen = sigmoid(D(x)), sigmoid(D(G(z)))
    return {"discriminator": -torch.log(d_x).mean() - torch.log(1 - d_gen).mean(),
            "generator": -torch.log(d_gen).mean()}


def gradient_penalty_per_sample(D, x, x_gen, eps):
    """Each sample's gradient norm computed alone (the critic must not mix samples)."""
    total = 0.0
    for i in range(len(x)):
        point = (eps[i] * x[i] + (1 - eps[i]) * x_gen[i]).unsqueeze(0).requires_grad_(True)
        grad, = torch.autograd.grad(D(point).sum(), point, create_graph=True)
        total = total + (torch.sqrt((grad ** 2).sum()) - 1) ** 2
    return total / len(x)


def wgangp(nets, x, z, eps, cfg):
    G, D = nets["generator"], nets["discriminator"]
    x_gen = G(z)
    critic = (D(x_gen.detach()).mean() - D(x).mean()
              + cfg.gp_weight * gradient_penalty_per_sample(D, x, x_gen.detach(), eps))
    return {"discriminator": critic, "generator": -D(x_gen).mean()}


def batch_kl(codes):
    """eq 18 with s_i the standard deviation, divided by the latent size n (Appendix D):
    (sum_i (s_i^2 + m_i^2)/2 - log s_i, minus n/2) / n."""
    n = codes.shape[1]
    m = codes.sum(0) / codes.shape[0]
    s = torch.sqrt(((codes - m) ** 2).sum(0) / codes.shape[0])
    return (((s ** 2 + m ** 2) / 2 - torch.log(s)).sum() - n / 2) / n


def age(nets, x, z, cfg):
    G, E = nets["generator"], nets["encoder"]
    e_x = E(x)
    e_gen = E(G(z))
    cosine = (e_gen * z).sum(1) / (e_gen.norm(dim=1) * z.norm(dim=1))
    return {"encoder": batch_kl(e_x) - batch_kl(E(G(z).detach()))
                       + cfg.age_recon_weight_x * l1(x, G(e_x)),
            "generator": batch_kl(e_gen) + cfg.age_recon_weight_z * (1 - cosine).mean()}


def alphagan_empirical_kl(nets, x, z, cfg):
    """Appendix D: eq 11 with the empirical KL of the codes (eq 18 / latent size) for R_C; eqs 13
    and 15 unchanged; no code discriminator."""
    G, E, D = nets["generator"], nets["encoder"], nets["discriminator"]
    z_hat = E(x)
    x_hat = G(z_hat)
    x_gen = G(z)
    d_x, d_xhat, d_gen = sigmoid(D(x)), sigmoid(D(x_hat)), sigmoid(D(x_gen))
    return {
        "encoder": cfg.recon_weight_encoder * l1(x, x_hat) + cfg.adv_weight_encoder * batch_kl(z_hat),
        "generator": cfg.recon_weight_generator * l1(x, x_hat)
                     + cfg.adv_weight_generator * (R(d_xhat).mean() + R(d_gen).mean()),
        "discriminator": (-cfg.disc_real_weight * torch.log(d_x) - torch.log(1 - d_xhat)).mean()
                         - torch.log(1 - d_gen).mean(),
    }


def update(nets, optimizers, name, loss):
    """The obvious update: zero every gradient, backward, step this network's optimizer."""
    for net in nets.values():
        net.zero_grad(set_to_none=True)
    loss.backward()
    optimizers[name].step()
