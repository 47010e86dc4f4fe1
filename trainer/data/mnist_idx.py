"""Reader for the MNIST idx files (gzipped or not), in ``<root>/mnist/`` or torchvision's
``<root>/MNIST/raw/``."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import DatasetError

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path, magic: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as err:
        raise DatasetError(f"cannot read {path}: {err}; replace it with the original MNIST file") from None
    if len(raw) < 8 or int.from_bytes(raw[0:4], "big") != magic:
        raise DatasetError(f"{path} is not an MNIST idx file (bad magic number); "
                           "replace it with the original MNIST file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise DatasetError(f"{path} is truncated or corrupt: {len(raw) - offset} bytes of data, "
                           f"expected {expected}; replace it with the original MNIST file")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_mnist(root: Path) -> tuple[Path, dict[str, Path]]:
    """The directory holding the idx files and the files found there."""
    for directory in (root / "mnist", root / "MNIST" / "raw", root):
        found = {key: path for key, stem in FILES.items() if (path := _find(directory, stem))}
        if "test_images" in found or "train_images" in found:
            return directory, found
    raise DatasetError(
        f"MNIST not found under {root}: put the idx files (train-images-idx3-ubyte[.gz], "
        f"train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) "
        f"in {root / 'mnist'}/ or {root / 'MNIST' / 'raw'}/")


def load_mnist(root: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], Path]:
    """``{'train': (images, labels), 'test': (...)}`` for the parts present, and the folder."""
    directory, found = find_mnist(root)
    parts = {}
    for part in ("train", "test"):
        images, labels = found.get(f"{part}_images"), found.get(f"{part}_labels")
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            missing = FILES[f"{part}_images" if images is None else f"{part}_labels"]
            raise DatasetError(f"MNIST {part} set in {directory} is incomplete: {missing}[.gz] is "
                               "missing; add it next to the other idx files")
        x, y = read_idx(images, IMAGE_MAGIC), read_idx(labels, LABEL_MAGIC)
        if len(x) != len(y) or x.shape[1:] != (28, 28):
            raise DatasetError(f"MNIST {part} files in {directory} do not match: {len(x)} images "
                               f"of shape {x.shape[1:]}, {len(y)} labels")
        parts[part] = (x, y)
    return parts, directory
