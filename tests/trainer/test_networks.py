"""The networks equal the paper's tables layer by layer (Tables 3 and 4, Appendix H.4)."""

import pytest
import torch
from torch import nn

from trainer import TrialConfig, build_algorithm
from trainer.networks import DATASET_ARCHITECTURE, age_encoder, discriminator, generator, transposed_encoder
from trainer.networks.architectures import COLORMNIST, DCGAN_32, DCGAN_64


def layers_with_output_shapes(net, x, kinds):
    rows = []
    hooks = [m.register_forward_hook(lambda m, i, o: rows.append((m, tuple(o.shape[1:]))))
             for m in net.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        out = net.eval()(x)
    for h in hooks:
        h.remove()
    return rows, out


def test_colormnist_discriminator_is_table_3():
    net = discriminator(COLORMNIST, batch_norm=True)
    rows, out = layers_with_output_shapes(net, torch.zeros(2, 3, 28, 28), (nn.Conv2d, nn.Linear))
    # (kernel, stride, feature maps, output size) per row of Table 3, SAME padding
    expected = [(5, 2, 8, 14), (5, 1, 16, 14), (5, 2, 32, 7), (5, 1, 64, 7), (5, 2, 64, 4)]
    convs = [(m.kernel_size[0], m.stride[0], m.out_channels, shape[1]) for m, shape in rows[:-1]]
    assert convs == expected
    linear, shape = rows[-1]
    assert isinstance(linear, nn.Linear) and linear.in_features == 64 * 4 * 4 and shape == (1,)
    assert out.shape == (2,)                                # one logit per image
    acts = [m for m in net.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 5 and all(a.negative_slope == 0.2 for a in acts)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 4                                    # all convolutions but the first


def test_dcgan_discriminator_has_dropout_and_wgangp_critic_has_no_batch_norm():
    dcgan = build_algorithm(TrialConfig(model="dcgan", device="cpu")).nets["discriminator"]
    dropouts = [m for m in dcgan.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 1 and dropouts[0].p == pytest.approx(0.2)   # keep probability 0.8
    critic = build_algorithm(TrialConfig(model="wgangp", device="cpu")).nets["discriminator"]
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.Dropout)) for m in critic.modules())
    alpha_d = build_algorithm(TrialConfig(model="alphagan", device="cpu")).nets["discriminator"]
    assert not any(isinstance(m, nn.Dropout) for m in alpha_d.modules())


def test_colormnist_generator_is_table_4():
    net = generator(COLORMNIST, latent_dim=50)
    rows, out = layers_with_output_shapes(net, torch.randn(4, 50), (nn.Linear, nn.ConvTranspose2d))
    assert isinstance(rows[0][0], nn.Linear) and rows[0][0].out_features == 3136
    deconvs = [(m.kernel_size[0], m.stride[0], m.out_channels, shape[1]) for m, shape in rows[1:]]
    assert deconvs == [(5, 2, 64, 14), (5, 1, 32, 14), (5, 2, 3, 28)]
    assert out.shape == (4, 3, 28, 28) and out.abs().max() <= 1           # tanh output
    assert all(not isinstance(m, nn.LeakyReLU) for m in net.modules())     # generators use ReLU


def test_alphagan_encoder_is_the_generator_transposed_without_output_activation():
    gen = generator(COLORMNIST, latent_dim=50)
    enc = transposed_encoder(COLORMNIST, gen, latent_dim=50)
    rows, out = layers_with_output_shapes(enc, torch.randn(4, 3, 28, 28), (nn.Conv2d, nn.Linear))
    convs = [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], shape[1]) for m, shape in rows[:-1]]
    # generator: 64 -> 64 (s2), 64 -> 32 (s1), 32 -> 3 (s2); transposed and reversed:
    assert convs == [(3, 32, 5, 2, 14), (32, 64, 5, 1, 14), (64, 64, 5, 2, 7)]
    assert rows[-1][0].in_features == 3136 and rows[-1][0].out_features == 50
    assert list(enc.children())[-1] is rows[-1][0]                        # ends with the linear layer
    assert out.shape == (4, 50)


def test_code_discriminator_is_three_layers_of_750_without_batch_norm():
    algo = build_algorithm(TrialConfig(model="alphagan", latent_dim=75, device="cpu"))
    net = algo.nets["code_discriminator"]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(75, 750), (750, 750), (750, 750), (750, 1)]
    assert all(m.negative_slope == 0.2 for m in net.modules() if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in net.modules())
    assert net(torch.randn(5, 75)).shape == (5,)


@pytest.mark.parametrize("arch, size, convs", [
    (DCGAN_32, 32, [(5, 2, 128), (5, 2, 256), (5, 2, 512)]),
    (DCGAN_64, 64, [(5, 2, 64), (5, 2, 128), (5, 2, 256), (5, 2, 512)]),
])
def test_dcgan_networks_of_the_wgan_gp_code(arch, size, convs):
    d = discriminator(arch, batch_norm=True)
    rows, out = layers_with_output_shapes(d, torch.zeros(2, 3, size, size), (nn.Conv2d,))
    assert [(m.kernel_size[0], m.stride[0], m.out_channels) for m, _ in rows] == convs
    assert rows[-1][1][1] == 4 and out.shape == (2,)
    g = generator(arch, latent_dim=128)
    with torch.no_grad():
        assert g.eval()(torch.randn(2, 128)).shape == (2, 3, size, size)
    enc = transposed_encoder(arch, g, latent_dim=128)
    with torch.no_grad():
        assert enc.eval()(torch.zeros(2, 3, size, size)).shape == (2, 128)


def test_age_encoder_outputs_unit_vectors():
    enc = age_encoder(COLORMNIST, latent_dim=10)
    with torch.no_grad():
        codes = enc.eval()(torch.randn(6, 3, 28, 28))
    assert torch.allclose(codes.norm(dim=1), torch.ones(6), atol=1e-5)


def test_width_multiplier_scales_hidden_channels_only():
    d = discriminator(COLORMNIST, batch_norm=True, width=0.5)
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [4, 8, 16, 32, 32]
    g = generator(COLORMNIST, latent_dim=10, width=0.5)
    assert [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)] == [32, 16, 3]


def test_every_dataset_has_an_architecture_matching_its_images():
    assert DATASET_ARCHITECTURE["colormnist"] is COLORMNIST
    assert DATASET_ARCHITECTURE["cifar10"].image_size == 32
    assert DATASET_ARCHITECTURE["celeba"].image_size == 64


@pytest.mark.parametrize("stride", [1, 2])
def test_generator_transposed_convolution_equals_pytorchs(stride):
    """The generator's ConvTranspose2d (stride 1 computed as an ordinary convolution) gives
    nn.ConvTranspose2d's outputs and gradients, with the same parameters."""
    from trainer.networks.layers import ConvTranspose2d

    torch.manual_seed(0)
    ours = ConvTranspose2d(6, 4, 5, stride, padding=2, output_padding=stride - 1, bias=True).double()
    stock = nn.ConvTranspose2d(6, 4, 5, stride, padding=2, output_padding=stride - 1, bias=True).double()
    stock.load_state_dict(ours.state_dict())
    x = torch.randn(3, 6, 7, 7, dtype=torch.float64, requires_grad=True)
    y_ours, y_stock = ours(x), stock(x)
    torch.testing.assert_close(y_ours, y_stock, rtol=0, atol=1e-12)
    weights = torch.randn_like(y_ours)
    grads_ours = torch.autograd.grad((y_ours * weights).sum(), [x, ours.weight, ours.bias])
    grads_stock = torch.autograd.grad((y_stock * weights).sum(), [x, stock.weight, stock.bias])
    for got, want in zip(grads_ours, grads_stock, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
