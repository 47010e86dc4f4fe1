"""A synthetic CelebA folder in torchvision's layout: real-size (178x218) JPEGs of smooth random
faces-like blobs and noise, so they decode and weigh like CelebA's (~8-12 kB each), and the
official 80/10/10 partition file. For the dataset-cache tests and the host-memory benchmark; the
real CelebA is never downloaded by the project."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def write_celeba_like(root: Path, count: int, seed: int = 0) -> Path:
    """``root/celeba/img_align_celeba/000000.jpg ...`` and ``list_eval_partition.txt``; returns root."""
    images = Path(root) / "celeba" / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:218, 0:178]
    lines = []
    for i in range(count):
        cy, cx, r = rng.uniform(90, 130), rng.uniform(70, 110), rng.uniform(40, 70)
        face = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None] * rng.uniform(80, 255, 3)
        picture = np.clip(face + rng.normal(0, 12, (218, 178, 3)) + rng.uniform(0, 60, 3), 0, 255)
        Image.fromarray(picture.astype(np.uint8)).save(images / f"{i:06d}.jpg", quality=90)
        split = 0 if i < 0.8 * count else 1 if i < 0.9 * count else 2
        lines.append(f"{i:06d}.jpg {split}")
    (Path(root) / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return Path(root)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root")
    parser.add_argument("--count", type=int, default=4000)
    args = parser.parse_args()
    write_celeba_like(Path(args.root), args.count)
    print(f"{args.count} images in {Path(args.root) / 'celeba'}")
