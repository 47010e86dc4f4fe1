"""The independent Wasserstein critic on real digits: data against data is near 0, noise against
data strongly negative; it checkpoints and resumes exactly; it never touches the generator."""

import pytest
import torch

from trainer import build_algorithm, load_dataset
from trainer.data import to_float
from trainer.metrics import IndependentCritic
from trainer.networks.architectures import COLORMNIST

from ...conftest import tiny_config


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", log=lambda m: None)


def real_sampler(images):
    def sample(n, generator=None):
        idx = torch.randint(0, len(images), (n,), generator=generator)
        return to_float(images[idx])
    return sample


def noise(n, generator=None):
    return torch.rand(n, 3, 28, 28, generator=generator) * 2 - 1


def critic(digits, **kw):
    return IndependentCritic(COLORMNIST, digits.val, digits.test, width=0.5, **kw)


@pytest.mark.slow
def test_data_against_data_is_near_zero_and_noise_strongly_negative(digits):
    same = critic(digits)
    training_data = real_sampler(digits.train)
    same.train(training_data, 150)
    data_test = same.neg_w_test(training_data)
    noisy = critic(digits)
    noisy.train(noise, 150)
    noise_test = noisy.neg_w_test(noise)
    assert abs(data_test) < 0.5, data_test
    assert noise_test < -5 and noisy.neg_w_validation(noise) < -5, noise_test
    assert noise_test < 10 * min(-abs(data_test), -0.05)


def test_critic_is_the_discriminator_without_batch_norm(digits):
    net = critic(digits).net
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert [m.stride[0] for m in net.modules() if isinstance(m, torch.nn.Conv2d)] == [2, 1, 2, 1, 2]


def test_checkpoint_and_resume_continue_exactly(digits):
    sample = real_sampler(digits.train)
    straight = critic(digits)
    straight.train(lambda n: noise(n, straight.rng), 6)
    split = critic(digits)
    split.train(lambda n: noise(n, split.rng), 3)
    resumed = critic(digits, seed=7)                     # another seed: everything must come from the state
    resumed.load_state_dict(split.state_dict())
    resumed.train(lambda n: noise(n, resumed.rng), 3)
    for a, b in zip(straight.net.parameters(), resumed.net.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.steps == 6
    assert resumed.neg_w_validation(lambda n: sample(n, resumed.rng)) == \
        straight.neg_w_validation(lambda n: sample(n, straight.rng))


def test_critic_never_changes_the_generator_or_its_random_stream(digits):
    algo = build_algorithm(tiny_config("alphagan", dataset="digits"))
    before = [p.clone() for p in algo.nets["generator"].parameters()]
    rng_before = algo.rng.get_state()
    judge = IndependentCritic(COLORMNIST, digits.val, digits.test, width=0.125)
    judge.train(lambda n: algo.generate(algo.sample_prior(n, generator=judge.rng)), 3)
    assert all(torch.equal(a, b) for a, b in zip(before, algo.nets["generator"].parameters(), strict=True))
    assert torch.equal(algo.rng.get_state(), rng_before)
    assert all(p.grad is None for p in algo.nets["generator"].parameters())
