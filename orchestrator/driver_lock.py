"""One driver per sweep. A second `orchestrate sweep` of the same sweep and storage (a --resume
typed while the first still runs under nohup, on another node, or as a Ray job) would run the
same trials again into the same folders and MLflow runs. The driver holds an exclusive flock on
``<storage>/<name>.driver.lock`` while it runs; the kernel releases it when the process ends,
however it ends, so a crash leaves no stale lock. The file says who holds it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from . import layout
from .errors import UsageError


@contextlib.contextmanager
def driver_lock(storage: Path, name: str) -> Iterator[None]:
    storage.mkdir(parents=True, exist_ok=True)
    path = layout.driver_lock_path(storage, name)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process that has not said who it is yet"
            raise UsageError(f"sweep {name!r} in {storage} is being run by another driver ({holder}); let it "
                             "finish, or stop it (Ctrl-C there, or ray job stop) before you resume it") from None
        except OSError as err:          # a file system without locks (some FUSE mounts): go on unguarded
            print(f"warning: cannot lock {path} ({err.strerror or type(err).__name__}); make sure no other driver "
                  f"runs sweep {name!r}", file=sys.stderr, flush=True)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        handle.flush()
        yield
