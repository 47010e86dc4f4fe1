"""A new sweep's SQLite store, copied from an empty one this MLflow version made before.

MLflow builds a SQLite store by running each of its schema migrations in turn: about a second
of every new sweep's start on 2 cores. The first store an MLflow version builds is kept, its one
experiment removed, in the cache folder (``$ALPHAGAN_CACHE/mlflow-stores/empty-<version>.db``);
a later store starts as a copy of it, on which MLflow creates its default experiment as on any
store without one. The cache is a help, never a need: a cache folder that cannot be written, or a
kept store MLflow does not open as complete, and the store is built from scratch as before."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from trainer.data.shared_cache import cache_dir


def build_store(target: Path, open_store: Callable[[Path], None]) -> None:
    """Make a complete store at ``target``: the kept empty store copied there, if ``open_store``
    (MLflow opening it) takes it; else built by ``open_store`` from nothing, and then kept."""
    if copy_empty_store(target):
        try:
            open_store(target)          # MLflow adds its default experiment, as on any store without one
            return
        except Exception:               # noqa: BLE001  (whatever MLflow raises on a store it refuses)
            empty_store_path().unlink(missing_ok=True)
    fresh = target.with_name(f"{target.name}.fresh")    # not the refused file's name: MLflow keeps its engine
    fresh.unlink(missing_ok=True)
    try:
        open_store(fresh)               # MLflow runs every migration
        keep_empty_store(fresh)
        os.replace(fresh, target)
    finally:
        fresh.unlink(missing_ok=True)


def empty_store_path() -> Path:
    import mlflow

    return cache_dir() / "mlflow-stores" / f"empty-{mlflow.__version__}.db"


def copy_empty_store(target: Path) -> bool:
    """Copy the kept empty store to ``target``; False where there is none to copy."""
    try:
        shutil.copyfile(empty_store_path(), target)
        return True
    except OSError:
        target.unlink(missing_ok=True)
        return False


def keep_empty_store(built: Path) -> None:
    """Keep a copy of ``built`` (a store MLflow has just built: its schema and its default
    experiment) without the experiment, whole or not at all."""
    kept = empty_store_path()
    staging = kept.with_name(f".{kept.name}.{os.getpid()}.creating")
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, staging)
        with sqlite3.connect(staging) as connection:
            connection.execute("DELETE FROM experiment_tags")
            connection.execute("DELETE FROM experiments")
        connection.close()
        os.replace(staging, kept)
    except (OSError, sqlite3.Error):
        pass
    finally:
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
