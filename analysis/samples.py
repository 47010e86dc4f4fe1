"""The paper's pictures from a sweep's runs: for each model the sample grid of its best job by the
independent critic (the visual-inspection proxy of Figures 3, 4 and 6), the best job's samples by
each metric side by side (Figure 14), and reconstructions for the models with an encoder
(Appendix C, Figure 8). The grids are the trials' own, from their MLflow artifacts; grids of
small images are enlarged (nearest neighbour) so 28-64 px images read at a glance."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .artifacts import RunArtifacts
from .metrics import MetricInfo
from .tables import best_jobs

SAMPLES_FOLDER = "samples"
MIN_WIDTH = 768                         # px: an 8-image row of 96 px images
GRID = re.compile(r"(samples|reconstructions)_(\d+)\.png$")


@dataclass
class GroupPictures:
    """One model's pictures: ``best`` (its best job's samples), ``reconstructions`` (models with an
    encoder) and ``by_metric`` (metric name -> the samples of the best job by that metric)."""

    group: str
    trial: str
    best: Path | None = None
    reconstructions: Path | None = None
    by_metric: dict[str, tuple[str, Path]] = field(default_factory=dict)


def latest_grids(artifacts: RunArtifacts, run_id: str) -> dict[str, str]:
    """The artifact paths of a run's last sample and reconstruction grids."""
    latest: dict[str, tuple[int, str]] = {}
    for path in artifacts.list(run_id, SAMPLES_FOLDER):
        match = GRID.search(path)
        if match and int(match.group(2)) >= latest.get(match.group(1), (-1, ""))[0]:
            latest[match.group(1)] = (int(match.group(2)), path)
    return {kind: path for kind, (_, path) in latest.items()}


def readable(source: Path, target: Path) -> Path:
    """``source`` copied to ``target``, enlarged by a whole factor (nearest) to MIN_WIDTH px wide."""
    from PIL import Image

    with Image.open(source) as image:
        factor = max(1, -(-MIN_WIDTH // image.width))
        if factor > 1:
            image = image.resize((image.width * factor, image.height * factor), Image.NEAREST)
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target)
    return target


def _fetch(artifacts: RunArtifacts, run_id: str, kind: str, target: Path, scratch: Path) -> Path | None:
    path = latest_grids(artifacts, run_id).get(kind)
    if path is None:
        return None
    return readable(artifacts.download(run_id, path, scratch), target)


def pictures(frame: pd.DataFrame, artifacts: dict[str, RunArtifacts], visual: MetricInfo, metrics: list[MetricInfo],
             reference: dict[str, float], out: Path, scratch: Path) -> list[GroupPictures]:
    """Each group's pictures, written to ``out`` as samples_<group>.png,
    reconstructions_<group>.png and samples_<group>_best_<metric>.png. ``artifacts``: each
    sweep's run artifacts (by name); ``visual``: the metric that stands in for visual inspection."""
    result = []
    for row in best_jobs(frame, visual, reference, 1).itertuples():
        runs, name = artifacts[row.sweep], safe(row.group)
        group = GroupPictures(row.group, row.trial)
        group.best = _fetch(runs, row.run_id, "samples", out / f"samples_{name}.png", scratch)
        group.reconstructions = _fetch(runs, row.run_id, "reconstructions", out / f"reconstructions_{name}.png",
                                       scratch)
        for metric in metrics:
            best = best_jobs(frame[frame["group"] == row.group], metric, reference, 1)
            if best.empty:
                continue
            top = best.iloc[0]
            path = _fetch(artifacts[top["sweep"]], top["run_id"], "samples",
                          out / f"samples_{name}_best_{metric.name}.png", scratch)
            if path is not None:
                group.by_metric[metric.name] = (str(top["trial"]), path)
        if group.best is not None:
            result.append(group)
    return result


def safe(group: str) -> str:
    """A group's name as part of a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", group).strip("_")
