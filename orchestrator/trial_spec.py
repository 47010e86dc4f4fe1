"""The YAML spec of one trial (`orchestrate trial`): a flat mapping of hyperparameters, or a
mapping with a ``trial:`` section of fixed hyperparameters (plus ``name`` and ``description``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.config import ConfigError, TrialConfig

from .errors import SpecError
from .spec_yaml import read_yaml

SPEC_KEYS = {"name", "description", "trial"}


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
