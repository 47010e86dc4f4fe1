"""Sample diversity = 1 - mean MS-SSIM over random pairs of images (the paper's CelebA measure,
Section 5), computed with torchmetrics' MS-SSIM.

MS-SSIM's standard five scales with an 11-pixel Gaussian window need images of at least 161
pixels. For the paper's 28, 32 and 64 pixel images the product uses fewer scales and a 7-pixel
window (sigma 1.5), with the first exponents of the standard set renormalised to sum to 1:

    image size < 64  (ColorMNIST 28, CIFAR-10 32): 3 scales, betas (0.0448, 0.2856, 0.3001) / sum
    image size >= 64 (CelebA 64):                  4 scales, betas (0.0448, 0.2856, 0.3001, 0.2363) / sum
"""

from __future__ import annotations

import torch

STANDARD_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
KERNEL_SIZE, SIGMA = 7, 1.5


def ms_ssim_settings(image_size: int) -> dict:
    scales = 4 if image_size >= 64 else 3
    betas = STANDARD_BETAS[:scales]
    total = sum(betas)
    return {"betas": tuple(b / total for b in betas), "kernel_size": KERNEL_SIZE, "sigma": SIGMA}


def pairwise_ms_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MS-SSIM of each pair (a[i], b[i]) of images in [-1, 1], shape [N]."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim

    settings = ms_ssim_settings(min(a.shape[-2:]))
    return ms_ssim((a.float() + 1) / 2, (b.float() + 1) / 2, data_range=1.0, reduction="none",
                   normalize="relu", **settings)


def sample_diversity(images: torch.Tensor, pairs: int = 5000, seed: int = 0,
                     batch_size: int = 500) -> float:
    """1 - mean MS-SSIM over ``pairs`` random pairs of distinct images (float in [-1, 1])."""
    n = len(images)
    if n < 2 or pairs < 1:
        raise ValueError(f"sample diversity needs at least 2 images and 1 pair, got {n} and {pairs}")
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(0, n, (pairs,), generator=generator)
    offset = torch.randint(1, n, (pairs,), generator=generator)
    second = (first + offset) % n                          # never the same image
    total = 0.0
    for start in range(0, pairs, batch_size):
        i, j = first[start:start + batch_size], second[start:start + batch_size]
        total += pairwise_ms_ssim(images[i], images[j]).double().sum().item()
    return 1.0 - total / pairs


def with_normal_noise(images: torch.Tensor, std: float = 0.1, seed: int = 0) -> torch.Tensor:
    """The paper's second reference: the test set with added normal noise (std in [-1, 1] units)."""
    generator = torch.Generator().manual_seed(seed)
    return (images + std * torch.randn(images.shape, generator=generator)).clamp(-1, 1)
