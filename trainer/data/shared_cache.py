"""A dataset's preprocessed arrays, built once per cluster and memory-mapped by every reader.

The cache folder (``ALPHAGAN_CACHE``, on a cluster a volume every node mounts) holds one folder
per dataset version: one ``.npy`` file per array and a ``manifest.json`` written last. One
process builds it: the first to take the folder's lock (``flock`` on ``<name>.lock``) builds it
under a name of its own (``<name>.<random>.tmp``) and renames it into place, which is atomic;
the others wait on the lock, then read what it built. Readers memory-map the arrays read-only,
so all the trials on a node share one copy in the page cache instead of holding one each.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DatasetError
from ..memory import in_binary_units

if TYPE_CHECKING:
    import torch

MANIFEST = "manifest.json"


def version_key(description: str) -> str:
    """The cache folder's suffix for a dataset version: 16 hex digits of the description's SHA-256."""
    return hashlib.sha256(description.encode()).hexdigest()[:16]


def file_stamps(paths) -> str:
    """Where each source file is, its size and modification time: a changed file is a new version."""
    return "|".join(f"{path.resolve()}:{path.stat().st_size}:{path.stat().st_mtime_ns}" for path in paths)


def cache_dir() -> Path:
    return Path(os.environ.get("ALPHAGAN_CACHE", Path.home() / ".cache" / "alphagan-sweeps"))


Built = tuple[dict[str, np.ndarray], str]       # the arrays, and a line that describes them


def cached_arrays(name: str, build: Callable[[], Built],
                  log: Callable[[str], None] = print) -> tuple[dict[str, torch.Tensor], str]:
    """The arrays and the line ``build()`` returns, from the cache folder ``name`` (built there
    first if no process has built it yet), the arrays as read-only memory-mapped tensors."""
    root = cache_dir()
    final = root / name
    if not (final / MANIFEST).is_file():
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DatasetError(f"cannot create the dataset cache {root}: {err.strerror}; set ALPHAGAN_CACHE "
                               "to a writable folder") from None
        with _locked(root / f"{name}.lock", log):
            if not (final / MANIFEST).is_file():     # nobody built it while this process waited
                _build(final, build)
    return _read(final)


@contextmanager
def _locked(path: Path, log: Callable[[str], None]) -> Iterator[None]:
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"dataset cache: another process is building {path.with_suffix('')}; waiting for it")
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            log(f"dataset cache: built by another process (waited {time.monotonic() - started:.0f} s)")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(final: Path, build: Callable[[], Built]) -> None:
    arrays, note = build()
    arrays = {key: np.ascontiguousarray(array) for key, array in arrays.items()}
    needed, free = sum(array.nbytes for array in arrays.values()), shutil.disk_usage(final.parent).free
    if needed > free:
        raise DatasetError(_no_room(final, f"needs {in_binary_units(needed)}, but its disk has "
                                           f"{in_binary_units(free)} free"))
    tmp = Path(tempfile.mkdtemp(prefix=f"{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        manifest = {}
        for key, array in arrays.items():
            np.save(tmp / f"{key}.npy", array, allow_pickle=False)
            manifest[key] = {"dtype": str(array.dtype), "shape": list(array.shape)}
        (tmp / MANIFEST).write_text(json.dumps({"arrays": manifest, "note": note}, indent=1))
        os.rename(tmp, final)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):         # e.g. the disk filled meanwhile (numpy's error has no errno)
            raise DatasetError(_no_room(final, f"could not be written ({err})")) from None
        raise


def _no_room(final: Path, why: str) -> str:
    return (f"the dataset cache {final} {why}: free space there, or set ALPHAGAN_CACHE to a folder "
            "with room (on a cluster, one every node mounts)")


def _read(folder: Path) -> tuple[dict[str, torch.Tensor], str]:
    import torch  # here, not above: cache_dir() is read by commands that need no torch

    damaged = f"the dataset cache {folder} is damaged"
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        tensors = {}
        for key, expected in manifest["arrays"].items():
            array = np.load(folder / f"{key}.npy", mmap_mode="r", allow_pickle=False)
            if str(array.dtype) != expected["dtype"] or list(array.shape) != expected["shape"]:
                raise ValueError(f"{key}.npy holds {array.dtype} {list(array.shape)}, not {expected}")
            with warnings.catch_warnings():       # read-only on purpose: no trial writes its data
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                tensors[key] = torch.from_numpy(array)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"{damaged} ({err}); delete that folder and it is rebuilt") from None
    return tensors, manifest["note"]
