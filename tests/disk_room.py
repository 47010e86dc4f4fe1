"""The disk room a test run needs, checked before the first test: a run that fills its disk fails
tests at random hours in (a checkpoint cut short, PostgreSQL refusing to start) and ends in a
traceback of pytest's own when even its report cannot be written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from orchestrator.writable import nearest_existing
from trainer.memory import in_binary_units

# With passed tests' folders deleted as they end (tmp_path_retention_policy in pyproject.toml), a
# whole `make test` held at most 1.1 GB at once in its temporary folders (pytest's, Ray's, the
# clusters'; sampled every 5 s on 2026-12-08): the wheelhouse test's offline install, beside the
# session's fixtures. Without the deletion a run held 5 GB by its end.
NEED_BYTES = 2 * 2**30
# The test clusters' folders (PostgreSQL's data, Ray's sessions and sockets) stay in /tmp whatever
# TMPDIR says: PostgreSQL needs every parent folder readable by its user and Ray's socket paths
# must fit 107 bytes. Their part of a clean clone's `make test`: at most 280 MB at once (sampled
# every 15 s, 2026-12-08).
CLUSTER_TEMP = Path("/tmp")
CLUSTER_NEED_BYTES = 2**29
MOVE_TEMP = "point TMPDIR (or --basetemp) at a disk with room"


def check_disk_room(temp: Path, need: int | None = None, what: str = "their sweeps, checkpoints, clusters and "
                    "wheelhouse", fix: str = MOVE_TEMP) -> None:
    """One line, and no test run, when the disk of the temporary folder has less than ``need``
    (NEED_BYTES) free."""
    need = NEED_BYTES if need is None else need
    free = shutil.disk_usage(nearest_existing(temp)).free
    if free < need:
        raise pytest.UsageError(
            f"the tests need about {in_binary_units(need)} free on the disk of {temp} ({what}) but it has "
            f"{in_binary_units(free)}: free space there, or {fix}")


def check_run_room(temp: Path) -> None:
    """The temporary folder, and /tmp where it is another disk."""
    check_disk_room(temp)
    if CLUSTER_TEMP.is_dir() and os.stat(CLUSTER_TEMP).st_dev != os.stat(nearest_existing(temp)).st_dev:
        check_disk_room(CLUSTER_TEMP, CLUSTER_NEED_BYTES, "their clusters' PostgreSQL and Ray, which stay in "
                        "/tmp for its short path", "mount a larger /tmp")
