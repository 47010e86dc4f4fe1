"""The numbers of a sweep analysis: quartiles per model and metric, the best jobs with their
hyperparameters, and how far the metrics agree (Section 6, Appendix G)."""

from __future__ import annotations

import itertools

import pandas as pd

from .metrics import MetricInfo, goodness

QUARTILE_COLUMNS = ["count", "min", "q1", "median", "q3", "max"]


def finished(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "finished"]


def quartile_table(frame: pd.DataFrame, metrics: list[MetricInfo]) -> pd.DataFrame:
    """One row per (group, metric): count, min, Q1, median, Q3, max over the finished trials
    (quantiles interpolated linearly, as numpy and pandas do by default)."""
    rows = []
    done = finished(frame)
    for group, trials in done.groupby("group", sort=True):
        for metric in metrics:
            values = trials[metric.name].dropna() if metric.name in trials else pd.Series(dtype=float)
            if values.empty:
                continue
            rows.append({"group": group, "metric": metric.name, "count": int(values.count()),
                         "min": values.min(), "q1": values.quantile(0.25), "median": values.median(),
                         "q3": values.quantile(0.75), "max": values.max()})
    return pd.DataFrame(rows, columns=["group", "metric", *QUARTILE_COLUMNS])


def best_jobs(frame: pd.DataFrame, metric: MetricInfo, reference: dict[str, float], n: int = 10) -> pd.DataFrame:
    """The ``n`` best finished trials of each group by ``metric`` (best first)."""
    done = finished(frame).dropna(subset=[metric.name]) if metric.name in frame else frame.iloc[:0]
    done = done.assign(_goodness=goodness(done[metric.name], metric, reference))
    best = (done.sort_values(["group", "_goodness"], ascending=[True, False], kind="stable")
            .groupby("group", sort=True).head(n))
    return best.drop(columns="_goodness")


def varied_hyperparameters(frame: pd.DataFrame, hyperparameters: list[str]) -> list[str]:
    """The hyperparameters that differ between trials (the grid's axes and seeds)."""
    return [h for h in hyperparameters if h in frame and frame[h].astype(str).nunique() > 1]


def metric_agreement(frame: pd.DataFrame, metrics: list[MetricInfo],
                     reference: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Over the finished trials that have both metrics: Spearman rank correlation of their
    goodness, and ``split.loc[a, b]``: the share of trials in the better half by metric a and the
    worse half by metric b (Appendix G's statistic, one direction: 15 % of its jobs were in the top
    half by the ImageNet inception score and the bottom half by the CIFAR-10 one)."""
    done = finished(frame)
    names = [m.name for m in metrics]
    good = pd.DataFrame({m.name: goodness(done[m.name], m, reference) for m in metrics}, index=done.index)
    correlation = pd.DataFrame(index=names, columns=names, dtype=float)
    split = pd.DataFrame(index=names, columns=names, dtype=float)
    for a, b in itertools.product(names, names):
        keep = good[a].notna() & good[b].notna()
        first, second = good.loc[keep, a], good.loc[keep, b]
        if keep.sum() < 2:
            continue
        correlation.loc[a, b] = first.rank().corr(second.rank())          # Spearman = Pearson of ranks
        split.loc[a, b] = different_halves(first, second)
    return correlation, split


def different_halves(a: pd.Series, b: pd.Series) -> float:
    """Share of items in the top half by ``a`` and the bottom half by ``b`` (one direction, as
    Appendix G counts it; the other direction is ``different_halves(b, a)``). The top half is the
    ceil(n/2) best by rank, ties broken by order."""
    n = len(a)
    top = (n + 1) // 2
    top_a = a.rank(method="first", ascending=False) <= top
    top_b = b.rank(method="first", ascending=False) <= top
    return float((top_a & ~top_b).mean())


def markdown(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table (no tabulate needed)."""
    def cell(value):
        if isinstance(value, float):
            return "" if pd.isna(value) else format(value, floatfmt)
        return str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"
