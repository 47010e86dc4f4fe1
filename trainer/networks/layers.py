"""Three network shapes built from layer tables: conv discriminator, deconv generator, conv encoder.

Every convolution uses SAME padding as in the TensorFlow code the paper's tables come from:
a stride-2 layer halves (rounding up) or doubles the spatial size, a stride-1 layer keeps it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# A layer table row: (kernel, stride, feature maps).
ConvSpec = tuple[int, int, int]


def scaled(channels: int, width: float) -> int:
    """Channel count under the width multiplier (never below 1)."""
    return max(1, int(round(channels * width)))


def conv_out_size(size: int, stride: int) -> int:
    return math.ceil(size / stride)


class _StatisticsInParameterPrecision:
    """Batch norm on inputs in its parameters' precision: under bf16 autocast the convolutions
    hand it bf16 activations, and it normalizes them in fp32 (as it keeps its statistics), the
    same way fused (vmapped) and unfused; the next convolution casts back to bf16."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x if x.dtype == self.weight.dtype else x.to(self.weight.dtype))


class BatchNorm1d(_StatisticsInParameterPrecision, nn.BatchNorm1d):
    pass


class BatchNorm2d(_StatisticsInParameterPrecision, nn.BatchNorm2d):
    pass


class ConvDiscriminator(nn.Module):
    """Convolutions with leaky ReLU 0.2, then one linear layer to ``out_features``.

    Batch norm (when on) follows every convolution except the first, as in DCGAN. Dropout, when
    ``dropout > 0``, follows the last convolution (Table 3, DCGAN only). With ``out_features=1``
    the output is one logit per image, shape ``[B]``.
    """

    def __init__(self, image_channels: int, image_size: int, convs: Sequence[ConvSpec], *,
                 batch_norm: bool, dropout: float = 0.0, out_features: int = 1, width: float = 1.0):
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = image_channels, image_size
        for index, (kernel, stride, maps) in enumerate(convs):
            maps = scaled(maps, width)
            use_bn = batch_norm and index > 0
            layers.append(nn.Conv2d(channels, maps, kernel, stride, padding=kernel // 2, bias=not use_bn))
            if use_bn:
                layers.append(BatchNorm2d(maps))
            layers.append(nn.LeakyReLU(0.2))
            channels, size = maps, conv_out_size(size, stride)
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        self.feature_shape = (channels, size, size)
        self.out_features = out_features
        self.linear = nn.Linear(channels * size * size, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(self.features(x))
        return out.squeeze(1) if self.out_features == 1 else out


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d with the same parameters and outputs; with stride 1 it runs as the
    equivalent ordinary convolution (flipped, transposed kernel), which oneDNN computes about 1.5x
    faster on CPUs than its transposed-convolution kernel."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if (self.stride == (1, 1) and self.groups == 1 and self.dilation == (1, 1) and output_size is None
                and self.output_padding == (0, 0) and self.padding_mode == "zeros"):
            kh, kw = self.kernel_size
            return F.conv2d(x, self.weight.flip(2, 3).transpose(0, 1), self.bias,
                            padding=(kh - 1 - self.padding[0], kw - 1 - self.padding[1]))
        return super().forward(x, output_size)


class DeconvGenerator(nn.Module):
    """Linear to ``start_channels x start_size x start_size``, then transposed convolutions.

    Batch norm and ReLU follow the linear layer and every transposed convolution but the last,
    which ends in tanh (images in [-1, 1]).
    """

    def __init__(self, latent_dim: int, start_channels: int, start_size: int,
                 deconvs: Sequence[ConvSpec], *, width: float = 1.0):
        super().__init__()
        start_channels = scaled(start_channels, width)
        self.start_shape = (start_channels, start_size, start_size)
        self.linear = nn.Linear(latent_dim, start_channels * start_size * start_size, bias=False)
        self.linear_bn = BatchNorm1d(start_channels * start_size * start_size)
        layers: list[nn.Module] = []
        channels = start_channels
        for index, (kernel, stride, maps) in enumerate(deconvs):
            last = index == len(deconvs) - 1
            maps = maps if last else scaled(maps, width)
            layers.append(ConvTranspose2d(channels, maps, kernel, stride, padding=kernel // 2,
                                             output_padding=stride - 1, bias=last))
            layers.append(nn.Tanh() if last else BatchNorm2d(maps))
            if not last:
                layers.append(nn.ReLU())
            channels = maps
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.linear_bn(self.linear(z)))
        return self.deconvs(h.view(z.shape[0], *self.start_shape))


class TransposedEncoder(nn.Module):
    """The generator's layers transposed: convolutions mirroring its transposed convolutions
    (batch norm and ReLU, as in the generator), then a linear layer to the code. No activation
    on the output (Appendix H.4)."""

    def __init__(self, generator: DeconvGenerator, deconvs: Sequence[ConvSpec], image_channels: int,
                 latent_dim: int, *, width: float = 1.0):
        super().__init__()
        start_channels, start_size, _ = generator.start_shape
        # Generator layer i maps c_in(i) -> c_out(i); its transpose maps c_out(i) -> c_in(i).
        ins = [start_channels] + [scaled(maps, width) for _, _, maps in deconvs[:-1]]
        outs = [scaled(maps, width) for _, _, maps in deconvs[:-1]] + [image_channels]
        layers: list[nn.Module] = []
        for (kernel, stride, _), c_in, c_out in reversed(list(zip(deconvs, ins, outs, strict=True))):
            layers += [nn.Conv2d(c_out, c_in, kernel, stride, padding=kernel // 2, bias=False),
                       BatchNorm2d(c_in), nn.ReLU()]
        layers.append(nn.Flatten())
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(start_channels * start_size * start_size, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x))


class SphereProjection(nn.Module):
    """Projects codes onto the unit sphere (AGE's latent space, Appendix H.3)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(z, dim=1)


class CodeDiscriminator(nn.Module):
    """α-GAN's code discriminator: an MLP of 3 hidden layers of 750 units with leaky ReLU 0.2,
    no batch norm, one logit per code (Appendix H.4)."""

    def __init__(self, latent_dim: int, hidden: int = 750, layers: int = 3):
        super().__init__()
        blocks: list[nn.Module] = []
        size = latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(size, hidden), nn.LeakyReLU(0.2)]
            size = hidden
        blocks.append(nn.Linear(size, 1))
        self.mlp = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(z).squeeze(1)
