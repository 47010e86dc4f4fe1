"""CelebA from torchvision's layout: ``<root>/celeba/img_align_celeba/*.jpg`` and
``list_eval_partition.txt``. Faces are centre-cropped to 108x108 and resized to 64x64 once,
then cached as uint8 in the dataset cache (never in the data root, which may be read-only): built
once per cluster and memory-mapped by every trial (shared_cache.py)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DatasetError
from ..progress import progress_bar
from .shared_cache import MANIFEST, cache_dir, cached_arrays, version_key

if TYPE_CHECKING:
    from .dataset import ImageDataset

CROP, SIZE = 108, 64
PARTITIONS = {"0": "train", "1": "val", "2": "test"}


def _preprocess(path: Path) -> np.ndarray:
    """Centre crop CROP x CROP (or the largest square that fits), resize to SIZE x SIZE."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            w, h = image.size
            crop = min(CROP, w, h)
            left, top = (w - crop) // 2, (h - crop) // 2
            face = image.crop((left, top, left + crop, top + crop)).resize((SIZE, SIZE), Image.BILINEAR)
    except (OSError, UnidentifiedImageError) as err:
        raise DatasetError(f"cannot decode {path}: {err}; replace or remove that file") from None
    return np.asarray(face, dtype=np.uint8).transpose(2, 0, 1)


def _read_partitions(folder: Path, names: list[str]) -> dict[str, list[str]]:
    partition_file = folder / "list_eval_partition.txt"
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    if partition_file.is_file():
        for line in partition_file.read_text().split("\n"):
            parts = line.split()
            if len(parts) == 2 and parts[1] in PARTITIONS and parts[0] in names:
                splits[PARTITIONS[parts[1]]].append(parts[0])
    else:   # the official partition is 80 / 10 / 10 in file order
        a, b = int(len(names) * 0.8), int(len(names) * 0.9)
        splits = {"train": names[:a], "val": names[a:b], "test": names[b:]}
    return splits


HINT = ("put CelebA in torchvision's layout, DIR/celeba/img_align_celeba/*.jpg (and "
        "DIR/celeba/list_eval_partition.txt), and pass --data-root DIR")


def celeba_splits(data_root: str | Path | None) -> tuple[Path, Path, list[str], dict[str, list[str]]]:
    """(folder, images folder, image names, file names per split) of CelebA in ``data_root``,
    checked without decoding an image: a DatasetError names what is missing."""
    hint = HINT
    if data_root is None:
        raise DatasetError(f"celeba needs its files: {hint}")
    folder = Path(data_root) / "celeba"
    images_dir = folder / "img_align_celeba"
    if not images_dir.is_dir():
        raise DatasetError(f"CelebA not found: {images_dir} does not exist; {hint}")
    names = sorted(p.name for p in images_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not names:
        raise DatasetError(f"CelebA folder {images_dir} holds no images; {hint}")
    splits = _read_partitions(folder, names)
    if not all(splits.values()):
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in splits.items())
        raise DatasetError(f"CelebA in {folder}: a split is empty ({sizes}); "
                           "check list_eval_partition.txt against img_align_celeba/")
    return folder, images_dir, names, splits


def load_celeba(data_root: str | Path | None, log=print, progress: bool = True) -> ImageDataset:
    from .dataset import ImageDataset  # imports torch: celeba_splits, the check before a sweep, needs none

    folder, images_dir, names, splits = celeba_splits(data_root)
    key = version_key("\n".join(f"{k}:{','.join(v)}" for k, v in splits.items())
                      + f"{images_dir.resolve()}|{CROP}|{SIZE}")
    name = f"celeba{SIZE}-{key}"
    if (cache_dir() / name / MANIFEST).is_file():
        log(f"celeba: {len(names):,} faces from the cache {cache_dir() / name}")

    def decode() -> tuple[dict[str, np.ndarray], str]:
        log(f"celeba: decoding {len(names):,} faces from {images_dir} (crop {CROP}, resize {SIZE}); "
            f"cached in {cache_dir() / name} for every trial and next time")
        decoded = {}
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for split, files in splits.items():
                faces = np.empty((len(files), 3, SIZE, SIZE), dtype=np.uint8)
                bar = progress_bar(len(files), 0, f"celeba {split}", unit="img") if progress else None
                for i, face in enumerate(pool.map(_preprocess, (images_dir / f for f in files))):
                    faces[i] = face
                    if bar is not None:
                        bar.update()
                if bar is not None:
                    bar.close()
                decoded[split] = faces
        return decoded, ""

    tensors, _ = cached_arrays(name, decode, log)
    note = (f"celeba: {images_dir}: {len(tensors['train']):,} / {len(tensors['val']):,} / "
            f"{len(tensors['test']):,} faces for train / validation / test, {SIZE}x{SIZE}")
    return ImageDataset("celeba", tensors["train"], tensors["val"], tensors["test"], note=note)
