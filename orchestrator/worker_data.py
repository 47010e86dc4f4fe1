"""The dataset of the trials a Ray worker process serves, loaded once per process: with actor
reuse a trial's worker (or its independent critic's actor) runs the next trial too, and finds
the data already in memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainer import TrialConfig, load_dataset

_DATA: dict[tuple, Any] = {}


def trial_data(cfg: TrialConfig, log: Callable[[str], None]):
    """The trial's dataset, kept in this process for the next trial it serves (one dataset at a
    time: a trial of another dataset replaces it)."""
    key = (cfg.dataset, cfg.data_root)
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = load_dataset(cfg.dataset, cfg.data_root, log=log)
    return _DATA[key]
