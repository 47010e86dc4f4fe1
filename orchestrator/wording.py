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
    found = shutil.which("orchestrate")
    if found and os.path.realpath(found) == os.path.realpath(ran):
        return "orchestrate"
    relative = os.path.relpath(ran)
    return relative if not relative.startswith("..") else os.path.abspath(ran)


def command(*words: str) -> str:
    """``orchestrate WORDS...`` as a line to paste into a shell (paths with spaces quoted)."""
    return shlex.join([program(), *map(str, words)])


def mlflow_command(*words: str) -> str:
    """``mlflow WORDS...`` with the MLflow this Python runs, as the user can type it (the venv's
    `.venv/bin/mlflow` where a bare `mlflow` would find another one, or none)."""
    beside = os.path.join(os.path.dirname(sys.executable), "mlflow")
    name = "mlflow"
    if os.path.exists(beside):
        found = shutil.which("mlflow")
        if not found or os.path.realpath(found) != os.path.realpath(beside):
            relative = os.path.relpath(beside)
            name = relative if not relative.startswith("..") else beside
    return shlex.join([name, *map(str, words)])
