"""algo.losses(x, z) equals the paper's losses computed independently (tests/trainer/reference.py)."""

import pytest
import torch

from trainer import build_algorithm
from trainer.data import load_dataset, to_float
from trainer.models.age import batch_kl_to_standard_normal

from ..conftest import tiny_config
from . import reference


@pytest.fixture(scope="module")
def batch():
    data = load_dataset("synthetic", log=lambda m: None)
    return to_float(data.train[:16])


def modes(algo):
    return {name: net.training for name, net in algo.nets.items()}


@pytest.mark.parametrize("overrides", [
    dict(),
    dict(recon_weight_encoder=5.0, recon_weight_generator=50.0, adv_weight_encoder=0.5,
         adv_weight_generator=2.0),
    dict(disc_real_weight=2.0),                                       # eq 14
])
def test_alphagan_losses_equal_algorithm_1(float64, batch, overrides):
    cfg = tiny_config("alphagan", **overrides)
    algo = build_algorithm(cfg)
    x = batch.double()
    z = torch.randn(len(x), cfg.latent_dim)
    before = modes(algo)
    got = algo.losses(x, z)
    assert modes(algo) == before                                      # no train/eval switch
    want = reference.alphagan(algo.nets, x, z, cfg)
    assert set(got) == {"encoder", "generator", "discriminator", "code_discriminator"}
    for key in want:
        assert got[key].requires_grad and got[key].dim() == 0
        torch.testing.assert_close(got[key], want[key], rtol=1e-10, atol=1e-10, msg=key)


def test_empirical_kl_ablation_equals_appendix_d(float64, batch):
    """prior_matching: empirical_kl: the encoder's prior term is eq 18 / latent size of its
    codes; no code discriminator is built or updated."""
    cfg = tiny_config("alphagan", prior_matching="empirical_kl")
    algo = build_algorithm(cfg)
    assert "code_discriminator" not in algo.nets and "code_discriminator" not in algo.optimizers
    x = batch.double()
    z = torch.randn(len(x), cfg.latent_dim)
    got, want = algo.losses(x, z), reference.alphagan_empirical_kl(algo.nets, x, z, cfg)
    assert set(got) == set(want) == {"encoder", "generator", "discriminator"}
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-10, atol=1e-10, msg=key)
    reported = algo.step(x)
    assert tuple(reported) == algo.reported == ("encoder", "generator", "discriminator", "reconstruction_l1")


def test_code_discriminator_treats_prior_as_real_and_codes_as_fake(batch):
    """Eq 17 must punish a code discriminator that calls encoder codes real and prior samples
    fake, and reward the opposite; the encoder (eq 11) gains when its codes are called real."""
    algo = build_algorithm(tiny_config("alphagan", recon_weight_encoder=0.0))
    confident = torch.full((4,), 10.0)
    right = algo.code_discriminator_loss(c_code=-confident, c_prior=confident)
    wrong = algo.code_discriminator_loss(c_code=confident, c_prior=-confident)
    assert right < 1e-3 and wrong > 19.9
    last = algo.nets["code_discriminator"].mlp[-1]
    with torch.no_grad():                                 # C calls every code real: logit +10
        last.weight.zero_()
        last.bias.fill_(10.0)
    losses = algo.losses(batch, torch.randn(len(batch), algo.cfg.latent_dim))
    torch.testing.assert_close(losses["encoder"], torch.tensor(-10.0))   # R_C = -logit


def test_dcgan_losses_are_non_saturating(float64, batch):
    cfg = tiny_config("dcgan", dcgan_dropout=0.0)
    algo = build_algorithm(cfg)
    x, z = batch.double(), torch.randn(len(batch), cfg.latent_dim)
    got, want = algo.losses(x, z), reference.dcgan(algo.nets, x, z, cfg)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-10, atol=1e-10, msg=key)


def test_wgangp_losses_with_per_sample_gradient_penalty(float64, batch):
    cfg = tiny_config("wgangp")
    algo = build_algorithm(cfg)
    x, z = batch.double(), torch.randn(len(batch), cfg.latent_dim)
    state = algo.rng.get_state()
    got = algo.losses(x, z)
    eps = torch.rand(len(x), 1, 1, 1, generator=torch.Generator().set_state(state))
    want = reference.wgangp(algo.nets, x, z, eps, cfg)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-9, atol=1e-9, msg=key)


def test_age_losses(float64, batch):
    cfg = tiny_config("age", age_recon_weight_x=500.0)
    algo = build_algorithm(cfg)
    x = batch.double()
    z = algo.sample_prior(len(x))
    assert torch.allclose(z.norm(dim=1), torch.ones(len(x)))         # prior on the unit sphere
    got, want = algo.losses(x, z), reference.age(algo.nets, x, z, cfg)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-9, atol=1e-9, msg=key)


def test_batch_kl_uses_the_standard_deviation():
    torch.manual_seed(0)
    standard = torch.randn(200_000, 3)
    assert batch_kl_to_standard_normal(standard).abs() < 1e-3          # KL(N(0,I) || N(0,I)) = 0
    # N(m, s^2) per dimension: KL = (s^2 + m^2 - 1)/2 - log s, divided by the latent size
    # (Appendix D; the sum over dimensions would weight the KL n times more against the L1 terms)
    m, s = torch.tensor([0.5, -1.0, 0.0]), torch.tensor([2.0, 0.8, 1.5])
    codes = standard * s + m
    exact = ((s ** 2 + m ** 2 - 1) / 2 - torch.log(s)).sum() / 3
    torch.testing.assert_close(batch_kl_to_standard_normal(codes), exact, rtol=2e-3, atol=2e-3)
