"""How the orchestrator's messages count things ("1 trial", "16 trials") and write the commands
they ask the user to paste."""

from __future__ import annotations

import os
import shlex
import shutil
import sys


def counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def program() -> str:
    """The `orchestrate` the user ran, as they can type it again: `orchestrate` where that name
    finds it, else its path (`.venv/bin/orchestrate` after `make quickstart`, whose venv is not
    activated: a pasted `orchestrate analyze ...` was "command not found")."""
    ran = sys.argv[0] if sys.argv else ""
    if os.path.basename(ran) != "orchestrate":
        return "orchestrate"                    # python -m orchestrator.cli, a test, a Ray job
    return as_typed(ran, "orchestrate")


def as_typed(path: str, name: str) -> str:
    """The program at ``path`` as the user can type it: ``name`` where the shell finds that one
    under it, else its path (relative where it lies below this folder)."""
    found = shutil.which(name)
    if found and os.path.realpath(found) == os.path.realpath(path):
        return name
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else os.path.abspath(path)


def command(*words: str) -> str:
    """``orchestrate WORDS...`` as a line to paste into a shell (paths with spaces quoted)."""
    return shlex.join([program(), *map(str, words)])


def mlflow_program() -> str:
    """The `mlflow` of this Python's environment (the venv's, whether or not it is activated),
    else whichever `mlflow` the shell finds."""
    beside = os.path.join(os.path.dirname(sys.executable), "mlflow")
    return beside if os.path.exists(beside) else "mlflow"


def mlflow_command(*words: str) -> str:
    """``mlflow WORDS...`` with the MLflow this Python runs, as the user can type it (the venv's
    `.venv/bin/mlflow` where a bare `mlflow` would find another one, or none)."""
    return shlex.join([as_typed(mlflow_program(), "mlflow"), *map(str, words)])
