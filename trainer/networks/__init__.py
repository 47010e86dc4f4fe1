"""Network builders: the paper's architectures for each dataset and model."""

from __future__ import annotations

from torch import nn

from .architectures import DATASET_ARCHITECTURE, Architecture
from .layers import CodeDiscriminator, ConvDiscriminator, DeconvGenerator, SphereProjection, TransposedEncoder


def generator(arch: Architecture, latent_dim: int, width: float = 1.0) -> DeconvGenerator:
    channels, size = arch.generator_start
    return DeconvGenerator(latent_dim, channels, size, arch.generator, width=width)


def discriminator(arch: Architecture, *, batch_norm: bool = True, dropout: float = 0.0,
                  width: float = 1.0) -> ConvDiscriminator:
    return ConvDiscriminator(arch.image_channels, arch.image_size, arch.discriminator,
                             batch_norm=batch_norm, dropout=dropout, width=width)


def transposed_encoder(arch: Architecture, gen: DeconvGenerator, latent_dim: int,
                       width: float = 1.0) -> TransposedEncoder:
    """α-GAN's encoder: the generator transposed, no output activation."""
    return TransposedEncoder(gen, arch.generator, arch.image_channels, latent_dim, width=width)


def age_encoder(arch: Architecture, latent_dim: int, width: float = 1.0) -> nn.Module:
    """AGE's encoder: the discriminator's convolutions (leaky ReLU 0.2, batch norm), a linear
    layer to the code, projected onto the unit sphere (Appendix H.3-H.4)."""
    trunk = ConvDiscriminator(arch.image_channels, arch.image_size, arch.discriminator,
                              batch_norm=True, out_features=latent_dim, width=width)
    return nn.Sequential(trunk, SphereProjection())


__all__ = ["Architecture", "DATASET_ARCHITECTURE", "generator", "discriminator",
           "transposed_encoder", "age_encoder", "CodeDiscriminator"]
