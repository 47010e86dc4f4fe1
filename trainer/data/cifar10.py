"""CIFAR-10 from torchvision's layout: ``<root>/cifar-10-batches-py/`` (python pickles), read once
per cluster into the dataset cache and memory-mapped by every trial (shared_cache.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .dataset import ImageDataset
from .shared_cache import cached_arrays, file_stamps, version_key

TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
VAL_SIZE = 5_000


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, KeyError, EOFError, ValueError) as err:
        raise DatasetError(f"{path} is not a CIFAR-10 python batch ({err!s}); replace it with "
                           "the file from cifar-10-python.tar.gz") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{path}: expected rows of 3072 bytes, got shape {data.shape}")
    if len(labels) != len(data):
        raise DatasetError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(data_root: str | Path | None, log=print) -> ImageDataset:
    hint = ("put the extracted cifar-10-python.tar.gz (folder cifar-10-batches-py/ with "
            "data_batch_1..5 and test_batch) in DIR and pass --data-root DIR")
    if data_root is None:
        raise DatasetError(f"cifar10 needs its files: {hint}")
    root = Path(data_root)
    folder = next((d for d in (root / "cifar-10-batches-py", root / "cifar10" / "cifar-10-batches-py")
                   if d.is_dir()), None)
    if folder is None:
        raise DatasetError(f"CIFAR-10 not found under {root}: {hint}")
    missing = [name for name in TRAIN_FILES + ["test_batch"] if not (folder / name).is_file()]
    if missing:
        raise DatasetError(f"CIFAR-10 in {folder} is incomplete: missing {', '.join(missing)}")
    files = [folder / name for name in TRAIN_FILES + ["test_batch"]]
    key = version_key(f"{file_stamps(files)}|{VAL_SIZE}")
    tensors, note = cached_arrays(f"cifar10-{key}", lambda: _read_splits(folder), log)
    log(note)
    labels = {split: tensors[f"{split}_labels"] for split in ("train", "val", "test")}
    return ImageDataset("cifar10", tensors["train"], tensors["val"], tensors["test"], labels, note=note)


def _read_splits(folder: Path) -> tuple[dict[str, np.ndarray], str]:
    batches = [_read_batch(folder / name) for name in TRAIN_FILES]
    train = np.concatenate([images for images, _ in batches])
    train_labels = np.concatenate([labels for _, labels in batches])
    test, test_labels = _read_batch(folder / "test_batch")
    order = np.random.default_rng(0).permutation(len(train))
    val_idx, train_idx = order[:VAL_SIZE], order[VAL_SIZE:]
    note = (f"cifar10: {folder}: {len(train_idx):,} train / {len(val_idx):,} validation images "
            f"from the training batches, {len(test):,} test")
    arrays = {"train": train[train_idx], "val": train[val_idx], "test": test,
              "train_labels": train_labels[train_idx], "val_labels": train_labels[val_idx],
              "test_labels": test_labels}
    return arrays, note
