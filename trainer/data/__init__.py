"""Datasets: loaded once into memory as uint8 tensors, sampled on the training device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DatasetError
from ..lazy_exports import lazy_exports

__getattr__ = lazy_exports(__name__, {".dataset": ("ImageDataset", "to_float", "to_uint8"),
                                      ".sampler": ("BatchSampler",)})
if TYPE_CHECKING:
    from .dataset import ImageDataset


def home_expanded(data_root: str | Path | None) -> Path | None:
    return None if data_root is None else Path(data_root).expanduser()


def load_dataset(name: str, data_root: str | Path | None = None,
                 log: Callable[[str], None] = print) -> ImageDataset:
    """The train / validation / test splits of dataset ``name``; ``data_root`` may start with
    ``~`` (a spec's `data_root: ~/data`: this machine's home, as a shell would read it)."""
    data_root = home_expanded(data_root)
    if name == "colormnist":
        from .colormnist import load_colormnist
        return load_colormnist(data_root, log)
    if name == "digits":
        from .colormnist import load_digits_dataset
        return load_digits_dataset(log)
    if name == "cifar10":
        from .cifar10 import load_cifar10
        return load_cifar10(data_root, log)
    if name == "celeba":
        from .celeba import load_celeba
        return load_celeba(data_root, log)
    if name == "synthetic":
        from .synthetic import load_synthetic
        return load_synthetic(log)
    raise DatasetError(f"unknown dataset {name!r}; choose colormnist, digits, cifar10, celeba "
                       "or synthetic")


def split_sizes(name: str, data_root: str | Path | None = None) -> dict[str, int]:
    """Images per split of dataset ``name``, checking that its files are there and complete (a
    DatasetError says what is missing). CelebA is checked without decoding its images; the others
    load quickly and are loaded."""
    data_root = home_expanded(data_root)
    if name == "celeba":
        from .celeba import celeba_splits
        return {split: len(files) for split, files in celeba_splits(data_root)[3].items()}
    data = load_dataset(name, data_root, log=lambda message: None)
    return {split: len(data.split(split)) for split in ("train", "val", "test")}


def check_batch_size(dataset: str, batch_size: int, train_images: int) -> None:
    """A batch the training split can fill; checked before a trial or a sweep starts."""
    if batch_size > train_images:
        raise DatasetError(f"batch_size {batch_size} is larger than {dataset}'s training split "
                           f"({train_images:,} images); use a smaller batch_size")


__all__ = ["load_dataset", "split_sizes", "ImageDataset", "DatasetError", "BatchSampler", "check_batch_size",
           "to_float", "to_uint8"]
