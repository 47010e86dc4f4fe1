"""algo.step(x) performs exactly the paper's update schedule on exactly the losses of
algo.losses: compared with the obvious implementation (tests/trainer/reference.py), which
recomputes every loss with plain backward() and steps one optimizer per update."""

import copy

import pytest
import torch

from trainer import ConfigError, build_algorithm
from trainer.data import load_dataset, to_float

from ..conftest import tiny_config
from . import reference


@pytest.fixture(scope="module")
def images():
    return to_float(load_dataset("synthetic", log=lambda m: None).train[:128])


def clone(algo):
    nets = copy.deepcopy(algo.nets)
    optimizers = {}
    for name, net in nets.items():
        opt = torch.optim.Adam(net.parameters(), lr=algo.learning_rate(name), betas=(0.5, 0.9))
        opt.load_state_dict(algo.optimizers[name].state_dict())
        optimizers[name] = opt
    return nets, optimizers


def rng_copy(algo):
    return torch.Generator().set_state(algo.rng.get_state())


def assert_same_parameters(algo, nets):
    for name, net in algo.nets.items():
        for (pname, got), want in zip(net.named_parameters(), nets[name].parameters(), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10,
                                       msg=lambda m, name=name, pname=pname: f"{name}.{pname}: {m}")


def assert_all_changed(algo, before):
    for name, net in algo.nets.items():
        moved = any(not torch.equal(p, q) for p, q in zip(net.parameters(), before[name].parameters(), strict=True))
        assert moved, f"{name} was not updated"


def run_steps(algo, batches, reference_step, steps=2):
    nets, optimizers = clone(algo)
    initial = copy.deepcopy(algo.nets)
    for x in batches[:steps]:
        rng = rng_copy(algo)
        out = algo.step(x.double())
        reference_step(nets, optimizers, x.double(), rng)
        assert all(isinstance(v, float) for v in out.values())
    assert_same_parameters(algo, nets)
    assert_all_changed(algo, initial)


def test_alphagan_step_is_algorithm_1(float64, images):
    cfg = tiny_config("alphagan", recon_weight_encoder=5.0, recon_weight_generator=50.0)
    algo = build_algorithm(cfg)
    count = {"encoder": 0, "generator": 0}

    def ref_step(nets, opts, x, rng):
        z = torch.randn(len(x), cfg.latent_dim, generator=rng)
        for _ in range(2):                              # E and G twice, fresh losses
            for name in ("encoder", "generator"):
                reference.update(nets, opts, name, reference.alphagan(nets, x, z, cfg)[name])
                count[name] += 1
        reference.update(nets, opts, "discriminator", reference.alphagan(nets, x, z, cfg)["discriminator"])
        reference.update(nets, opts, "code_discriminator",
                         reference.alphagan(nets, x, z, cfg)["code_discriminator"])

    run_steps(algo, images.split(cfg.batch_size), ref_step)
    assert count == {"encoder": 4, "generator": 4}


def test_dcgan_step_updates_generator_twice_per_discriminator_update(float64, images):
    cfg = tiny_config("dcgan", dcgan_dropout=0.0)      # dropout masks would differ between the two
    algo = build_algorithm(cfg)

    def ref_step(nets, opts, x, rng):
        z = torch.randn(len(x), cfg.latent_dim, generator=rng)
        reference.update(nets, opts, "discriminator", reference.dcgan(nets, x, z, cfg)["discriminator"])
        for _ in range(2):
            reference.update(nets, opts, "generator", reference.dcgan(nets, x, z, cfg)["generator"])

    run_steps(algo, images.split(cfg.batch_size), ref_step)


def test_wgangp_step_has_five_critic_updates_on_separate_batches(float64, images):
    cfg = tiny_config("wgangp")
    algo = build_algorithm(cfg)
    assert algo.real_batches_per_step == 5

    def ref_step(nets, opts, x, rng):
        for x_real in x.split(cfg.batch_size):
            z = torch.randn(len(x_real), cfg.latent_dim, generator=rng)
            eps = torch.rand(len(x_real), 1, 1, 1, generator=rng)
            reference.update(nets, opts, "discriminator",
                             reference.wgangp(nets, x_real, z, eps, cfg)["discriminator"])
        z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=rng)
        reference.update(nets, opts, "generator", -nets["discriminator"](nets["generator"](z)).mean())

    run_steps(algo, [images[:5 * cfg.batch_size]], ref_step, steps=1)


def test_age_step_updates_generator_twice_per_encoder_update(float64, images):
    cfg = tiny_config("age")
    algo = build_algorithm(cfg)

    def ref_step(nets, opts, x, rng):
        z = torch.randn(len(x), cfg.latent_dim, generator=rng)
        z = z / z.norm(dim=1, keepdim=True)
        reference.update(nets, opts, "encoder", reference.age(nets, x, z, cfg)["encoder"])
        for _ in range(2):
            reference.update(nets, opts, "generator", reference.age(nets, x, z, cfg)["generator"])

    run_steps(algo, images.split(cfg.batch_size), ref_step)


@pytest.mark.parametrize("model", ["alphagan", "dcgan", "wgangp", "age"])
def test_same_seed_same_networks_and_steps(model, images):
    cfg = tiny_config(model)
    a, b = build_algorithm(cfg), build_algorithm(cfg)
    x = images[:cfg.batch_size * a.real_batches_per_step]
    torch.manual_seed(1)
    out_a = a.step(x)
    torch.manual_seed(1)
    assert b.step(x) == out_a
    assert tuple(out_a) == a.reported               # what sweeps may name as a spec's metric
    other = build_algorithm(tiny_config(model, seed=1))
    assert not torch.equal(next(other.nets["generator"].parameters()), next(a.nets["generator"].parameters()))


@pytest.mark.parametrize("model", ["alphagan", "dcgan", "age"])
def test_bf16_autocast_keeps_the_losses_within_tolerance(model, images):
    """precision: bf16 runs the step under bfloat16 autocast: from the same weights and batch, its
    losses stay within 10 % of the fp32 step's (measured: at most 6 % over 3 steps at width 0.5)
    and the parameters stay fp32."""
    sizes = dict(width=0.5, batch_size=64, latent_dim=50)              # the paper's, at half width
    fp32 = build_algorithm(tiny_config(model, **sizes))
    bf16 = build_algorithm(tiny_config(model, precision="bf16", **sizes))
    x = images[:64].repeat(fp32.real_batches_per_step, 1, 1, 1)
    torch.manual_seed(0)
    want = fp32.step(x)
    torch.manual_seed(0)
    with bf16.precision():
        got_tensors = bf16.step_tensors(x)
    got = {key: float(value) for key, value in got_tensors.items()}
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=0.1, abs=1e-3), key
    assert any(got[key] != value for key, value in want.items())      # it really ran in bf16
    assert all(p.dtype == torch.float32 for net in bf16.nets.values() for p in net.parameters())


def test_bf16_step_runs_each_update_on_the_latest_weights():
    """Inside one precision() region a network that was updated runs on its new weights (autocast's
    cast cache would hand it the bf16 copy of the weights of the region's start)."""
    algo = build_algorithm(tiny_config("alphagan", precision="bf16"))
    z = torch.randn(4, algo.cfg.latent_dim)
    gen = algo.nets["generator"]
    with algo.precision():
        before = gen(z)
        with torch.no_grad():
            gen.deconvs[0].weight.mul_(-1)
        after = gen(z)
    with algo.precision():
        fresh = gen(z)
    assert torch.equal(after, fresh)
    assert not torch.equal(before, after)


def test_bf16_is_refused_for_wgangp():
    with pytest.raises(ConfigError, match="precision: bf16 is not offered for wgangp"):
        tiny_config("wgangp", precision="bf16")


def conv_weights(algo):
    return [p for net in algo.nets.values() for p in net.parameters() if p.dim() == 4]


@pytest.mark.parametrize("model", ["alphagan", "dcgan", "wgangp", "age"])
def test_channels_last_trains_as_the_default_layout_and_keeps_its_layout(model, images):
    """channels_last: true stores the convolution weights in NHWC layout (so convolutions run on
    channels-last activations): from the same weights and batch the steps give the same losses
    as the default layout, and the weights are still channels-last after Adam's updates."""
    # DCGAN's dropout draws its mask in memory order, so the same seed masks other units in NHWC
    no_dropout = dict(dcgan_dropout=0.0) if model == "dcgan" else {}
    default = build_algorithm(tiny_config(model, **no_dropout))
    nhwc = build_algorithm(tiny_config(model, channels_last=True, **no_dropout))
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights(nhwc))
    assert not any(p.is_contiguous() for p in conv_weights(nhwc) if p.shape[1] > 1)   # one channel: both
    x = images[:16].repeat(default.real_batches_per_step, 1, 1, 1)
    for step in range(3):
        want, got = default.step(x), nhwc.step(x)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-5), (step, key)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights(nhwc))


@pytest.mark.parametrize("saved_nhwc", [False, True])
def test_a_checkpoint_resumes_in_the_other_layout(saved_nhwc, images):
    """A trial's state saved in one layout resumes in the other: Adam's moments are copied into
    their parameters' layout (the fused Adam kernel would read them scrambled). The next step's
    updates of the convolution weights are the same up to float rounding (the two layouts run
    different convolution kernels; in a CI run 6 of 1,600 weights differed by up to 2e-5): the test
    allows 5 % of the update's norm; scrambled moments give updates off by more than the update."""
    source = build_algorithm(tiny_config("alphagan", channels_last=saved_nhwc))
    x = images[:16]
    for _ in range(2):
        source.step(x)
    state = copy.deepcopy(source.state_dict())
    target = build_algorithm(tiny_config("alphagan", channels_last=not saved_nhwc))
    target.load_state_dict(state)
    before = [w.detach().clone() for w in conv_weights(source)]
    want, got = source.step(x), target.step(x)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    for mine, theirs, start in zip(conv_weights(target), conv_weights(source), before, strict=True):
        gap, update = (mine - theirs).detach().norm(), (theirs - start).detach().norm()
        assert float(gap) < 0.05 * float(update), f"the resumed update differs by {float(gap / update):.1%}"
