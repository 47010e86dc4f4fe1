"""An output folder a command will write, checked before the command does any work: an
evaluation or a sweep that ran for an hour is not lost to a folder it cannot write; and a disk
that fills while the command writes, said in one line."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trainer.memory import in_binary_units

from .errors import DiskFullError, UsageError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)      # no space left on the device; the user's quota used up


def check_writable_folder(path: Path, option: str) -> None:
    """``path`` is a folder this process can write, or can be created in one. Writing is tried,
    not inferred from permission bits (root passes every os.access check, yet cannot write on a
    read-only mount or in /proc): a probe folder is made and removed, so nothing is left behind."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder; pass a folder")
    nearest = nearest_existing(path)
    if not nearest.is_dir():
        raise UsageError(f"{option} {path} cannot be created: {nearest} is a file, not a folder; "
                         "pass a folder you can write")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-probe-", dir=nearest))
    except OSError as err:
        what = "is not writable" if nearest == path else f"cannot be created in {nearest}"
        raise UsageError(f"{option} {path} {what} ({err.strerror or type(err).__name__}); "
                         "pass a folder you can write") from None


def nearest_existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return path


def disk_full(err: BaseException | None) -> OSError | None:
    """The OSError saying the disk (or the quota) is full behind ``err``: ``err`` itself, or what
    it was raised from or while handling (torch.save's RuntimeError, raised while handling it)."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            return err
        err = err.__cause__ or err.__context__
    return None


@contextmanager
def disk_full_as_one_line(folder: Path, what: str, advice: str) -> Iterator[None]:
    """Inside, a write that fails for want of space (or quota) becomes a DiskFullError: "the disk
    of WHAT is full (No space left on device; X free): ADVICE", X the free space at ``folder``."""
    try:
        yield
    except Exception as err:
        full = disk_full(err)
        if full is None:
            raise
        free = shutil.disk_usage(nearest_existing(folder)).free
        raise DiskFullError(f"the disk of {what} is full ({os.strerror(full.errno)}; {in_binary_units(free)} "
                            f"free): {advice}") from None
