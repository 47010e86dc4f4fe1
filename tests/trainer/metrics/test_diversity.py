"""Sample diversity with torchmetrics' MS-SSIM at the paper's image sizes."""

import pytest
import torch
from torchmetrics.image import MultiScaleStructuralSimilarityIndexMeasure

from trainer.data import load_dataset, to_float
from trainer.metrics import pairwise_ms_ssim, sample_diversity, with_normal_noise
from trainer.metrics.diversity import ms_ssim_settings


@pytest.mark.parametrize("size, scales", [(28, 3), (32, 3), (64, 4)])
def test_pairwise_ms_ssim_equals_torchmetrics_module(size, scales):
    generator = torch.Generator().manual_seed(size)
    base = torch.rand(6, 3, size, size, generator=generator) * 2 - 1
    other = (base + 0.3 * torch.randn(base.shape, generator=generator)).clamp(-1, 1)
    settings = ms_ssim_settings(size)
    assert len(settings["betas"]) == scales and abs(sum(settings["betas"]) - 1) < 1e-12
    metric = MultiScaleStructuralSimilarityIndexMeasure(data_range=1.0, reduction="none",
                                                        normalize="relu", **settings)
    expected = metric((base + 1) / 2, (other + 1) / 2)
    torch.testing.assert_close(pairwise_ms_ssim(base, other), expected)
    torch.testing.assert_close(pairwise_ms_ssim(base, base), torch.ones(6))


def test_identical_images_have_zero_diversity():
    image = torch.rand(1, 3, 28, 28) * 2 - 1
    assert sample_diversity(image.expand(50, -1, -1, -1), pairs=200) == pytest.approx(0.0, abs=1e-6)


def test_real_digits_are_diverse_and_noise_adds_diversity(shared_data):
    test = to_float(load_dataset("colormnist", shared_data, log=lambda m: None).test[:2000])
    clean = sample_diversity(test, pairs=1000)
    noisy = sample_diversity(with_normal_noise(test, 0.2), pairs=1000)
    assert 0.3 < clean < noisy < 1.0
