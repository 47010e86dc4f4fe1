"""Trial checkpoints: networks, optimizers, every RNG state and the data position, written
atomically so that a crash never leaves a half-written file; and the trial's status file."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_FILE = "checkpoint.pt"
STATUS_FILE = "status.json"


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read; the message says what to do with it."""


def global_rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


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
        _atomic_write(self.path, lambda tmp: torch.save(state, tmp))
        return self.path

    def load(self) -> dict[str, Any]:
        """The checkpoint, read to the CPU whatever device wrote it: generator states must come
        back as CPU byte tensors, and ``load_state_dict`` copies weights and Adam state to the
        trial's device."""
        try:
            return torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
            raise CheckpointError(f"cannot read the checkpoint {self.path} ({type(err).__name__}: "
                               f"{err}); move it away to start the trial afresh") from None

    def write_status(self, status: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.directory / STATUS_FILE,
                      lambda tmp: tmp.write_text(json.dumps(status, indent=2) + "\n"))

    def read_status(self) -> dict[str, Any] | None:
        path = self.directory / STATUS_FILE
        return json.loads(path.read_text()) if path.is_file() else None
