"""Reading a spec file (a trial's or a sweep's YAML) into a mapping, with one-line errors."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

SHIPPED_SPECS = Path(__file__).resolve().parents[1] / "search_spaces"     # the paper's grids, quickstart


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps the last one,
    so a second `grid:` or `max_iter:` line silently replaced the first (a grid axis dropped)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":      # `<<: *base`: keys given after it override
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (lines {seen[key]} and {line}), and the second would "
                    "silently replace the first: keep one", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        specs = sorted(path.glob("*.yaml"))
        which = (f"one of its spec files, e.g. {_shown(specs[0])}" if specs else
                 f"a spec file such as {_shown(SHIPPED_SPECS / 'quickstart.yaml')}")
        raise SpecError(f"{path}: is a folder, not a spec file: pass {which}")
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file{missing_spec_hint(path)}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not a YAML spec (byte {err.start} is not UTF-8 text); pass a .yaml file "
                        "such as search_spaces/quickstart.yaml") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        content = yaml.load(text, Loader=_UniqueKeyLoader)      # noqa: S506 (a safe loader)
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


def missing_spec_hint(path: Path) -> str:
    """'; did you mean ...?' for a spec file that is not there: a shipped spec of that name (given
    without its folder or .yaml), else a close name in its folder or among the shipped specs."""
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    shipped = SHIPPED_SPECS / name                      # path is not a file, so never this one
    if shipped.is_file():
        return f"; did you mean {_shown(shipped)}?"
    for folder in (path.parent, SHIPPED_SPECS):
        names = sorted(p.name for p in folder.glob("*.y*ml")) if folder.is_dir() else []
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
        if close:
            return f"; did you mean {_shown(folder / close[0])}?"
    return ""


def _shown(path: Path) -> str:
    """``path`` relative to the working folder where it lies below it, else absolute."""
    relative = os.path.relpath(path.resolve())
    return str(path.resolve()) if relative.startswith("..") else relative
