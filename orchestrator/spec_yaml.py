"""Reading a spec file (a trial's or a sweep's YAML) into a mapping, with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{path}:{where}: invalid YAML: {problem}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise SpecError(f"{path}: expected a mapping of hyperparameters, got {type(content).__name__}")
    return content
