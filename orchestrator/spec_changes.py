"""What changed in a sweep's spec since it started: the settings --resume names when it refuses a
changed spec, instead of only saying that something did.

Two specs are the same sweep when their mappings hold the same values: key order counts only in
``grid`` (the order of its keys is the order of the trials, and of fused groups), and a number
YAML reads as a string (``1e-4``: YAML 1.1 wants a dot) is that number. ``trial.data_root`` says
where the datasets are, not what the trials train (like --data-root, it may change: the data moved).
A comment, the ``description`` and the YAML's layout are not read at all.
"""

from __future__ import annotations

import json
from typing import Any

from trainer.config import whole_number

ORDERED = {"grid"}             # mappings whose key order is part of the sweep
WHERE = {"trial.data_root"}    # settings of where the sweep runs, free to change on --resume
SHOWN_CHARS = 60               # a value longer than this is cut in the message
SHOWN_CHANGES = 3              # changes named in the message; the rest are counted

def spec_changes(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Each setting that differs, as 'PATH: was X, now Y' (or added / removed), in the order of the
    spec the sweep started with."""
    return _mapping_changes(then, now, "")


def describe(changes: list[str]) -> str:
    """The first few changes in one clause, with a count of the others."""
    shown = "; ".join(changes[:SHOWN_CHANGES])
    more = len(changes) - SHOWN_CHANGES
    return shown + (f" (and {more} more change{'s' if more > 1 else ''})" if more > 0 else "")


def _mapping_changes(then: dict, now: dict, path: str) -> list[str]:
    changes = []
    for key, value in then.items():
        where = f"{path}{key}"
        if where in WHERE:
            continue
        if key not in now:
            changes.append(f"{where}: removed (was {_shown(value)})")
        else:
            changes.extend(_changes(value, now[key], where))
    changes.extend(f"{path}{key}: added ({_shown(value)})" for key, value in now.items()
                   if key not in then and f"{path}{key}" not in WHERE)
    if path.rstrip(".") in ORDERED and not changes and list(then) != list(now):
        changes.append(f"{path.rstrip('.')}: its keys in another order ({', '.join(map(str, then))} then; "
                       f"{', '.join(map(str, now))} now), which is another order of the trials")
    return changes


def _changes(then: Any, now: Any, path: str) -> list[str]:
    if isinstance(then, dict) and isinstance(now, dict):
        return _mapping_changes(then, now, f"{path}.")
    if _same(then, now):
        return []
    return [f"{path}: was {_shown(then)}, now {_shown(now)}"]


def _same(then: Any, now: Any) -> bool:
    if isinstance(then, list) and isinstance(now, list):
        return len(then) == len(now) and all(_same(a, b) for a, b in zip(then, now, strict=True))
    if isinstance(then, dict) or isinstance(now, dict):
        return isinstance(then, dict) and isinstance(now, dict) and not _mapping_changes(then, now, "")
    if isinstance(then, bool) or isinstance(now, bool):
        return then is now
    return then == now or whole_number(then) == whole_number(now)    # '1e-4' as YAML leaves it


def _shown(value: Any) -> str:
    text = json.dumps(value, default=repr, ensure_ascii=False)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."
