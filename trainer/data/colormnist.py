"""ColorMNIST (stacked MNIST) from the MNIST idx files, and the embedded ``digits`` variant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DatasetError
from .dataset import ImageDataset
from .mnist_idx import find_mnist, load_mnist
from .shared_cache import cached_arrays, file_stamps, version_key
from .stacked import split_indices, stack_digits

DATA_SEED = 0   # every trial of a sweep sees the same stacked dataset
COLORMNIST_STACKED = {"train": 60_000, "val": 10_000, "test": 10_000}
DIGITS_STACKED = {"train": 20_000, "val": 10_000, "test": 10_000}


def _stack_splits(pools, counts) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(DATA_SEED)
    arrays = {}
    for split in ("train", "val", "test"):
        images, digits = stack_digits(*pools[split], counts[split], rng)
        arrays[split], arrays[f"{split}_digits"] = images.numpy(), digits.numpy()
    return arrays


def _cached(name: str, source: str, counts: dict[str, int], read_pools, log) -> ImageDataset:
    """The stacked dataset, built once per cluster (shared_cache.py) from ``read_pools()``, which
    returns the digit pools per split and a line saying where they came from."""
    key = version_key(f"{source}|{sorted(counts.items())}|{DATA_SEED}")

    def build():
        pools, note = read_pools()
        return _stack_splits(pools, counts), note

    tensors, note = cached_arrays(f"{name}-{key}", build, log)
    log(note)
    labels = {split: tensors[f"{split}_digits"] for split in ("train", "val", "test")}
    return ImageDataset(name, tensors["train"], tensors["val"], tensors["test"], labels, note)


def load_colormnist(data_root: str | Path | None, log: Callable[[str], None] = print) -> ImageDataset:
    if data_root is None:
        raise DatasetError("colormnist needs the MNIST idx files: pass --data-root DIR (set "
                           "data_root) with them in DIR/mnist/ or DIR/MNIST/raw/")
    directory, found = find_mnist(Path(data_root))
    source = file_stamps(path for _, path in sorted(found.items()))
    return _cached("colormnist", source, COLORMNIST_STACKED, lambda: _mnist_pools(Path(data_root)), log)


def _mnist_pools(root: Path):
    parts, directory = load_mnist(root)
    if "train" in parts:
        x, y = parts["train"]
        train_idx, val_idx, _ = split_indices(len(x), (len(x) - 5000, 5000, 0), DATA_SEED)
        pools = {"train": (x[train_idx], y[train_idx]), "val": (x[val_idx], y[val_idx])}
        if "test" in parts:
            pools["test"] = parts["test"]
        else:
            raise DatasetError(f"MNIST test set missing in {directory}: add "
                               "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
        note = (f"colormnist: MNIST from {directory}: {len(train_idx):,} train / "
                f"{len(val_idx):,} validation digits from the training set, test set for test")
    else:
        x, y = parts["test"]
        n_val = n_test = len(x) // 10
        idx = split_indices(len(x), (len(x) - n_val - n_test, n_val, n_test), DATA_SEED)
        pools = dict(zip(("train", "val", "test"), ((x[i], y[i]) for i in idx), strict=True))
        note = (f"colormnist: only the MNIST test set (t10k) found in {directory}; splitting its "
                f"{len(x):,} digits into {len(idx[0]):,} train / {n_val:,} validation / "
                f"{n_test:,} test digits")
    return pools, note


def sklearn_digits_28() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 real 8x8 digits (0..16), resized to 20x20 and centred in 28x28
    like MNIST's digit box, as uint8 [1797, 28, 28]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    big = F.pad(big, (4, 4, 4, 4))
    images = (big.squeeze(1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return images, bunch.target.astype(np.int64)


def load_digits_dataset(log: Callable[[str], None] = print) -> ImageDataset:
    def read_pools():
        x, y = sklearn_digits_28()
        n_val = n_test = len(x) // 10
        idx = split_indices(len(x), (len(x) - n_val - n_test, n_val, n_test), DATA_SEED)
        pools = dict(zip(("train", "val", "test"), ((x[i], y[i]) for i in idx), strict=True))
        note = (f"digits: scikit-learn's {len(x):,} real 8x8 digits, upscaled to 28x28 and stacked "
                f"as RGB ({len(idx[0]):,} / {n_val} / {n_test} digits for train / validation / test)")
        return pools, note

    return _cached("digits", "sklearn.datasets.load_digits", DIGITS_STACKED, read_pools, log)
