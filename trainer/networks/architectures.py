"""The paper's network tables, per dataset, as data.

ColorMNIST: Tables 3 and 4 of the paper (Appendix H.4.1). The discriminator's "Linear adv 2"
(two-way softmax) is written as one logit, which is the same classifier; "Linear class 10" is
an auxiliary classifier head that unconditional models do not use.

CIFAR-10 (32x32) and CelebA (64x64): the DCGAN networks of the WGAN-GP code the paper cites
(Gulrajani et al., ``gan_cifar.py`` with DIM=128 and ``gan_64x64.py`` DCGANGenerator /
DCGANDiscriminator with dim=64): 5x5 kernels, stride 2, SAME padding.
"""

from __future__ import annotations

from dataclasses import dataclass

from .layers import ConvSpec


@dataclass(frozen=True)
class Architecture:
    name: str
    image_channels: int
    image_size: int
    discriminator: tuple[ConvSpec, ...]     # (kernel, stride, feature maps) per convolution
    generator_start: tuple[int, int]        # (channels, size) after the generator's linear layer
    generator: tuple[ConvSpec, ...]         # transposed convolutions; the last one outputs RGB

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images the networks read and write."""
        return (self.image_channels, self.image_size, self.image_size)


COLORMNIST = Architecture(
    name="colormnist",
    image_channels=3,
    image_size=28,
    discriminator=((5, 2, 8), (5, 1, 16), (5, 2, 32), (5, 1, 64), (5, 2, 64)),   # Table 3
    generator_start=(64, 7),                                                   # Linear 3136
    generator=((5, 2, 64), (5, 1, 32), (5, 2, 3)),                             # Table 4
)

DCGAN_32 = Architecture(
    name="dcgan32",
    image_channels=3,
    image_size=32,
    discriminator=((5, 2, 128), (5, 2, 256), (5, 2, 512)),
    generator_start=(512, 4),
    generator=((5, 2, 256), (5, 2, 128), (5, 2, 3)),
)

DCGAN_64 = Architecture(
    name="dcgan64",
    image_channels=3,
    image_size=64,
    discriminator=((5, 2, 64), (5, 2, 128), (5, 2, 256), (5, 2, 512)),
    generator_start=(512, 4),
    generator=((5, 2, 256), (5, 2, 128), (5, 2, 64), (5, 2, 3)),
)

DATASET_ARCHITECTURE = {
    "colormnist": COLORMNIST,
    "digits": COLORMNIST,
    "synthetic": COLORMNIST,
    "cifar10": DCGAN_32,
    "celeba": DCGAN_64,
}
