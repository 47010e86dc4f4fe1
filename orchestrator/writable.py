"""An output folder a command will write, checked before the command does any work: an
evaluation or a sweep that ran for an hour is not lost to a folder it cannot write."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UsageError


def check_writable_folder(path: Path, option: str) -> None:
    """``path`` is a folder this process can write, or can be created in one. Writing is tried,
    not inferred from permission bits (root passes every os.access check, yet cannot write on a
    read-only mount or in /proc): a probe folder is made and removed, so nothing is left behind."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder; pass a folder")
    nearest = path
    while not nearest.exists():
        nearest = nearest.parent
    if not nearest.is_dir():
        raise UsageError(f"{option} {path} cannot be created: {nearest} is a file, not a folder; "
                         "pass a folder you can write")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-probe-", dir=nearest))
    except OSError as err:
        what = "is not writable" if nearest == path else f"cannot be created in {nearest}"
        raise UsageError(f"{option} {path} {what} ({err.strerror or type(err).__name__}); "
                         "pass a folder you can write") from None
