"""The metrics a sweep is judged by (Section 5), what "better" means for each, and their labels."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    better: str        # "max", "min", or "reference": closest to the dataset's own value


METRICS = [
    MetricInfo("critic_neg_w_test", "independent critic -W (test set)", "max"),
    MetricInfo("critic_neg_w_val", "independent critic -W (validation batch)", "max"),
    MetricInfo("inception_score", "inception score (in-domain classifier)", "max"),
    MetricInfo("inception_inception_score", "inception score (ImageNet Inception-v3)", "max"),
    MetricInfo("sample_diversity", "sample diversity (1 - MS-SSIM)", "reference"),
    MetricInfo("modes", "modes covered (of 1000)", "max"),
    MetricInfo("mode_kl", "KL(mode histogram || uniform)", "min"),
    MetricInfo("fid", "FID (in-domain classifier features)", "min"),
    MetricInfo("inception_fid", "FID (ImageNet Inception-v3)", "min"),
]
BY_NAME = {m.name: m for m in METRICS}


def present(frame: pd.DataFrame) -> list[MetricInfo]:
    """The known metrics with at least one value in ``frame``, in the order above."""
    return [m for m in METRICS if m.name in frame and frame[m.name].notna().any()]


def goodness(values: pd.Series, metric: MetricInfo, reference: dict[str, float]) -> pd.Series:
    """Higher is better: the metric itself, its negative, or minus the distance to the reference
    (the paper ranks sample diversity by closeness to the test set's own diversity). Without a
    reference value, diversity counts as higher-is-better."""
    if metric.better == "min":
        return -values
    if metric.better == "reference" and metric.name in reference:
        return -(values - reference[metric.name]).abs()
    return values
