"""One process per sweep and per trial folder, held by an exclusive flock that the kernel releases
when the process ends, however it ends (a crash leaves no stale lock); the lock file says who
holds it.

- A second `orchestrate sweep` of the same sweep and storage (a --resume typed while the first
  still runs under nohup, on another node, or as a Ray job) would run the same trials again into
  the same folders and MLflow runs: the driver holds ``<storage>/<name>.driver.lock``.
- A second `orchestrate trial` into the same --out (the command typed again in another terminal)
  would train the same trial twice, each overwriting the other's checkpoints: the trial holds
  ``<out>/trial.lock``."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import layout
from .errors import UsageError


@contextlib.contextmanager
def held_lock(path: Path, busy: Callable[[str], str], unguarded: str) -> Iterator[None]:
    """An exclusive lock on ``path`` while the block runs. Held by another process: a UsageError
    ``busy(holder)``. A file system without locks (some FUSE mounts): the warning ``unguarded``,
    and the block runs."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process that has not said who it is yet"
            raise UsageError(busy(holder)) from None
        except OSError as err:
            print(f"warning: cannot lock {path} ({err.strerror or type(err).__name__}); {unguarded}",
                  file=sys.stderr, flush=True)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        handle.flush()
        yield


def driver_lock(storage: Path, name: str) -> contextlib.AbstractContextManager[None]:
    storage.mkdir(parents=True, exist_ok=True)
    return held_lock(layout.driver_lock_path(storage, name),
                     lambda holder: f"sweep {name!r} in {storage} is being run by another driver ({holder}); let "
                                    "it finish, or stop it (Ctrl-C there, or ray job stop) before you resume it",
                     f"make sure no other driver runs sweep {name!r}")


def driver_runs(storage: Path, name: str) -> bool | None:
    """Whether a driver holds sweep ``name``'s lock now; None where no driver ever ran it in
    ``storage`` (no lock file) or the file cannot be locked."""
    path = layout.driver_lock_path(storage, name)
    try:
        with open(path) as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    return False


def trial_lock(out: Path) -> contextlib.AbstractContextManager[None]:
    return held_lock(out / layout.TRIAL_LOCK,
                     lambda holder: f"{out} is being trained by another `orchestrate trial` ({holder}); let it "
                                    "finish, or stop it (Ctrl-C there) before you resume it",
                     f"make sure no other `orchestrate trial` writes to {out}")
