"""A sweep's state file (``<storage>/<name>.sweep.json``): which MLflow store and parent run it
records to, and which trials Ray completed, kept across ``--resume``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import layout


@dataclass
class SweepState:
    parent_run_id: str
    tracking_uri: str
    experiment_id: str | None = None
    completed_trials: list[str] = field(default_factory=list)

    @classmethod
    def path(cls, storage: Path, name: str) -> Path:
        return layout.state_path(storage, name)

    @classmethod
    def load(cls, storage: Path, name: str) -> SweepState | None:
        path = cls.path(storage, name)
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        return cls(record["parent_run_id"], record["tracking_uri"], record.get("experiment_id"),
                   list(record.get("completed_trials", [])))

    def save(self, storage: Path, name: str) -> None:
        path = self.path(storage, name)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self)) + "\n")
        tmp.replace(path)
