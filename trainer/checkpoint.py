"""Trial checkpoints: networks, optimizers, every RNG state and the data position, written
atomically so that a crash never leaves a half-written file; and the trial's status file."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic_files import atomic_write
from .errors import CheckpointError

CHECKPOINT_FILE = "checkpoint.pt"
STATUS_FILE = "status.json"
# What every trial checkpoint holds (trial_run.TrialRun.save_checkpoint writes these and more)
TRIAL_STATE_KEYS = ("iteration", "hyperparameters", "config", "algorithm")
RESUME_ADVICE = "move it away to start the trial afresh"


# What an older checkpoint holds besides tensors and plain Python values: numpy's RNG state as a
# numpy array. These classes only rebuild arrays of plain numbers; loading stays weights-only.
_numpy_core = getattr(np, "_core", None) or np.core
OLD_NUMPY_GLOBALS = (_numpy_core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32)))


def global_rng_state() -> dict[str, Any]:
    """torch's, numpy's and Python's global RNG states as tensors and plain Python values, so a
    checkpoint loads with ``torch.load(weights_only=True)``."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        numpy_state = (numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                       numpy_state["has_gauss"], numpy_state["cached_gaussian"])
    np.random.set_state(numpy_state)
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_weights_only(path: Path) -> dict[str, Any]:
    """A checkpoint read with ``weights_only=True``: tensors and plain Python values only, so a
    file someone put on a shared volume cannot run code. Older checkpoints (numpy's RNG state as
    an array) load too, with exactly the numpy classes that rebuild such an array allowed."""
    torch.serialization.add_safe_globals(list(OLD_NUMPY_GLOBALS))
    return torch.load(path, map_location="cpu", weights_only=True)


def save_atomically(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to ``path`` with ``atomic_write``, through a Python file: on a full disk,
    torch's RuntimeError then keeps the OSError (ENOSPC) as its context (saved to a path, only
    C++'s "iostream error" is left to say why)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as file:
            torch.save(state, file)
    atomic_write(path, write)


class CheckpointStore:
    """One trial's folder: ``checkpoint.pt`` (latest state) and ``status.json``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    @property
    def path(self) -> Path:
        return self.directory / CHECKPOINT_FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, state: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        save_atomically(state, self.path)
        return self.path

    def load(self, advice: str = RESUME_ADVICE) -> dict[str, Any]:
        """The checkpoint, read to the CPU whatever device wrote it: generator states must come
        back as CPU byte tensors, and ``load_state_dict`` copies weights and Adam state to the
        trial's device. A file that cannot be read, or is not a trial's checkpoint, is a
        CheckpointError ending in ``advice`` (what the caller's user can do about it)."""
        try:
            state = load_weights_only(self.path)
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise CheckpointError(f"cannot read the checkpoint {self.path} as weights only ({type(err).__name__}: "
                                  f"{first}); {advice}") from None
        missing = [key for key in TRIAL_STATE_KEYS if not isinstance(state, dict) or key not in state]
        if missing:
            raise CheckpointError(f"{self.path} is not a trial's checkpoint (it has no {', '.join(missing)}); "
                                  f"{advice}")
        return state

    def write_status(self, status: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(self.directory / STATUS_FILE,
                      lambda tmp: tmp.write_text(json.dumps(status, indent=2) + "\n"))

    def read_status(self) -> dict[str, Any] | None:
        path = self.directory / STATUS_FILE
        return json.loads(path.read_text()) if path.is_file() else None
