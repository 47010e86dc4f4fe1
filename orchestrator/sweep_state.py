"""A sweep's state file (``<storage>/<name>.sweep.json``): which MLflow store and parent run it
records to, and which trials Ray completed, kept across ``--resume``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import layout


@dataclass
class SweepState:
    """In memory ``tracking_uri`` is the real one; the file holds it without its password."""

    parent_run_id: str
    tracking_uri: str
    experiment_id: str | None = None
    completed_trials: list[str] = field(default_factory=list)
    spec_sha256: str | None = None          # the spec file the sweep started with
    storage: str | None = None              # the storage folder it started in (resolved)
    spec: dict | None = None                # that spec's content as read (preflight.spec_content)

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
                   list(record.get("completed_trials", [])), record.get("spec_sha256"), record.get("storage"),
                   record.get("spec"))

    def save(self, storage: Path, name: str) -> None:
        path = self.path(storage, name)
        tmp = path.with_name(path.name + ".tmp")
        record = {**asdict(self), "tracking_uri": layout.redact_uri(self.tracking_uri)}   # no password
        tmp.write_text(json.dumps(record) + "\n")
        tmp.replace(path)


def started_in(storage: Path, state: SweepState) -> Path | None:
    """The storage folder a sweep started in: as its state file records it, or (state files before
    2026-12-06) the folder of its SQLite store where that store moved along with the storage."""
    if state.storage is not None:
        return Path(state.storage)
    recorded = layout.sqlite_path(state.tracking_uri)
    if recorded is not None and recorded.name == layout.DEFAULT_DB and (storage / layout.DEFAULT_DB).is_file():
        return recorded.parent
    return None


def own_store(storage: Path, state: SweepState) -> str:
    """The store a sweep records to. Its own SQLite store (the one in the folder it started in) is
    read in ``storage``, wherever that folder is now: a copy on a laptop, a folder that moved."""
    started = started_in(storage, state)
    if (started is not None and state.tracking_uri == layout.default_tracking_uri(started)
            and (storage / layout.DEFAULT_DB).is_file()):
        return layout.default_tracking_uri(storage)
    return state.tracking_uri
