"""Command-line value types: counts may be written the way specs and papers write them, and paths
with a ~ the shell left alone (`--storage=~/runs`) are under the user's home."""

from __future__ import annotations

import argparse
import os

from trainer.config import whole_number


def count(text: str) -> int:
    """A whole number as an option's value: '10000', '1e4' or '10_000' (argparse's int refuses '1e4',
    which a spec accepts for the same setting)."""
    value = whole_number(text.replace("_", ""))
    if not isinstance(value, int):
        raise argparse.ArgumentTypeError(f"must be a whole number such as 10000 or 1e4, got {text!r}")
    return value


def user_path(text: str) -> str:
    """A path whose ~ no shell expanded (`--storage=~/runs`, a quoted '~/runs'): the sweep went to a
    folder named '~' below the working folder."""
    return os.path.expanduser(text)
