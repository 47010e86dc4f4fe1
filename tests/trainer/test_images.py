"""Sample grids are readable: each image is enlarged by a whole factor, pixel for pixel."""

import numpy as np
import pytest
import torch
from PIL import Image

from trainer.images import MIN_PIXELS, save_grid, upscale


@pytest.mark.parametrize("size, factor", [(28, 4), (32, 3), (64, 2), (96, 1), (8, 12)])
def test_upscale_repeats_each_pixel_to_at_least_the_minimum(size, factor):
    images = torch.rand(2, 3, size, size)
    big = upscale(images)
    assert big.shape[-1] == size * factor >= MIN_PIXELS
    assert torch.equal(big[..., ::factor, ::factor], images)                  # nearest: no blur
    assert torch.equal(big, images.repeat_interleave(factor, -2).repeat_interleave(factor, -1))


def test_saved_grid_holds_the_images_pixel_for_pixel(tmp_path):
    images = torch.rand(4, 3, 28, 28) * 2 - 1
    path = save_grid(images, tmp_path / "grid.png", nrow=2)
    grid = np.asarray(Image.open(path))
    assert grid.shape == (2 * 114 + 2, 2 * 114 + 2, 3)
    first = grid[2:2 + 112, 2:2 + 112]                                       # image 0, after the padding
    expected = ((images[0] + 1) / 2 * 255 + 0.5).clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert np.array_equal(first[::4, ::4], expected)
    assert np.array_equal(first, expected.repeat(4, 0).repeat(4, 1))
