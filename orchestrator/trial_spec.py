"""The YAML spec of one trial (`orchestrate trial`): a flat mapping of hyperparameters, or a
mapping with a ``trial:`` section of fixed hyperparameters (plus ``name`` and ``description``).
A sweep spec is one too: its trial runs the ``trial:`` section, and the sections that only a
sweep uses (resources, the independent critic, the evaluation, the scheduler) are left to
`orchestrate sweep`; a grid, search space or seed list is not expanded, and a note says which
hyperparameters that leaves to the trial section or their defaults."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainer.config import ConfigError, TrialConfig

from .errors import SpecError
from .spec_yaml import read_yaml
from .sweep_spec import TOP_LEVEL as SWEEP_KEYS

SPEC_KEYS = {"name", "description", "trial"}


def read_spec(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The fixed hyperparameters of a spec file, and the ones a sweep spec varies (its grid's and
    search space's names, and ``seed`` for a seed list), which one trial does not expand."""
    content = read_yaml(path)
    if "trial" not in content:
        return content, []
    unknown = sorted(set(content) - SPEC_KEYS - SWEEP_KEYS)
    if unknown:
        raise SpecError(f"{path}: unknown top-level field {unknown[0]!r}; "
                        f"a spec has {', '.join(sorted(SPEC_KEYS))} (and a sweep spec's sections)")
    section = content["trial"] or {}
    if not isinstance(section, dict):
        raise SpecError(f"{path}: field 'trial' must be a mapping of hyperparameters")
    varied = [name for key in ("grid", "search") if isinstance(content.get(key), dict) for name in content[key]]
    return section, varied + (["seed"] if "seeds" in content else [])


def build_config(path: str | Path | None, overrides: dict[str, Any],
                 log: Callable[[str], None] = lambda _: None) -> TrialConfig:
    values, varied = read_spec(path) if path is not None else ({}, [])
    left = [name for name in varied if name not in overrides]
    if left:
        takes = "take that section's values or their defaults" if len(left) > 1 else (
            "takes that section's value or its default")
        log(f"{path}: one trial of the sweep spec's trial: section; {', '.join(left)} (varied by the sweep) "
            f"{takes}: choose {'them' if len(left) > 1 else 'it'} with --set KEY=VALUE")
    values = {**values, **overrides}
    source = str(path) if path is not None else "--set"
    try:
        return TrialConfig.from_dict(values, source=source)
    except ConfigError as err:
        raise SpecError(str(err)) from None
