"""`orchestrate sweep SPEC --dry-run`: the trials a spec expands to. Piped (`| jq`, a file), each
trial's full hyperparameters as one JSON object per line; on a terminal, a table of the settings
that vary between trials, numbered as the sweep numbers its trials, and how many others every
trial shares (30 settings per trial on one line each were unreadable there)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from .settings import FusedGroup, trial_members
from .sweep_spec import SweepSpec


def print_trials(spec: SweepSpec, out: TextIO) -> None:
    if not out.isatty():
        for trial in spec.trials:
            print(json.dumps(trial, sort_keys=True), file=out)
        return
    print(trials_table(spec), file=out)


def trials_table(spec: SweepSpec) -> str:
    """Column `trial`: the number that ends the trial's Ray Tune and MLflow run names (smoke_5f2a1_00003);
    fused trials are `model_member` (run smoke_5f2a1_00001_2). An Optuna search samples its trials
    from these combinations, which are numbered in column `values`. Then a column per varying setting."""
    numbered = list(_numbered(spec))
    keys = [*spec.grid, *(key for key in spec.trials[0] if key not in spec.grid)]     # the grid's first
    varying = [key for key in keys if len({repr(hp[key]) for _, hp in numbered}) > 1]
    first = "values" if spec.search == "optuna" else "trial"
    rows = [[first, *varying]] + [[number, *(_cell(hp[key]) for key in varying)] for number, hp in numbered]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    shared = len(spec.trials[0]) - len(varying)
    lines.append(f"the other {shared} settings are the same in every trial; piped (e.g. | jq), --dry-run prints "
                 "each trial's settings as JSON lines")
    return "\n".join(lines)


def _numbered(spec: SweepSpec):
    for index, trial in enumerate(spec.tune_trials):
        fused = isinstance(trial, FusedGroup)
        for member, hp in enumerate(trial_members(trial)):
            yield (f"{index}_{member}" if fused else str(index)), hp


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)
