"""YAML specs. A spec file is either a flat mapping of hyperparameters or a mapping with a
``trial:`` section of fixed hyperparameters (plus ``name`` and ``description``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from trainer.config import ConfigError, TrialConfig

SPEC_KEYS = {"name", "description", "trial"}


class UsageError(ValueError):
    """Command-line options that do not fit together."""


class SpecError(ValueError):
    """A malformed spec file; the message names the file and the field."""


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


def trial_values(path: str | Path) -> dict[str, Any]:
    """The fixed hyperparameters of a spec file."""
    content = read_yaml(path)
    if "trial" not in content:
        return content
    unknown = sorted(set(content) - SPEC_KEYS)
    if unknown:
        raise SpecError(f"{path}: unknown top-level field {unknown[0]!r}; "
                        f"a spec has {', '.join(sorted(SPEC_KEYS))}")
    section = content["trial"] or {}
    if not isinstance(section, dict):
        raise SpecError(f"{path}: field 'trial' must be a mapping of hyperparameters")
    return section


def build_config(path: str | Path | None, overrides: dict[str, Any]) -> TrialConfig:
    values = trial_values(path) if path is not None else {}
    values.update(overrides)
    source = str(path) if path is not None else "--set"
    try:
        return TrialConfig.from_dict(values, source=source)
    except ConfigError as err:
        raise SpecError(str(err)) from None
