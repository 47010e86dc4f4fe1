"""The analysis figures, in the style of the paper: box plots over the sweep (Figures 2 and 5),
independent-critic curves (Figure 13), latent statistics (Figures 11-12) and metric agreement
(Figure 15). Every function writes one PNG and returns its path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .metrics import MetricInfo  # noqa: E402
from .tables import best_jobs, finished  # noqa: E402

DPI = 110


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _grid(count: int, columns: int = 3, size=(4.2, 3.4)):
    columns = max(1, min(columns, count))
    rows = (count + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def best_label(best: int, sizes: list[int]) -> str:
    """The legend of the circles: "best 10", or "every job" where no model has more than 10."""
    return f"best {best}" if max(sizes, default=0) > best else "every job"


def box_plots(frame: pd.DataFrame, metrics: list[MetricInfo], reference: dict[str, float], path: Path,
              best: int = 10) -> Path:
    """One panel per metric, models side by side: the spread over the finished trials, the best
    ``best`` jobs as black circles, the dataset's own value as a dashed line."""
    done = finished(frame)
    groups = sorted(done["group"].unique())
    fig, axes = _grid(len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        values = [done.loc[done["group"] == g, metric.name].dropna().to_numpy() for g in groups]
        circles = best_label(best, [len(v) for v in values])
        ax.boxplot(values, tick_labels=groups, widths=0.5, showfliers=True,
                   flierprops={"marker": "x", "markersize": 4, "markeredgecolor": "0.5"})
        top = best_jobs(frame, metric, reference, best)
        for i, group in enumerate(groups, start=1):
            chosen = top.loc[top["group"] == group, metric.name].to_numpy()
            jitter = np.linspace(-0.12, 0.12, len(chosen)) if len(chosen) > 1 else np.zeros(len(chosen))
            ax.scatter(i + jitter, chosen, s=22, facecolors="none", edgecolors="black", linewidths=1.2,
                       zorder=3, label=circles if i == 1 else None)
        if metric.name in reference:
            ax.axhline(reference[metric.name], color="tab:red", linestyle="--", linewidth=1.2,
                       label="dataset reference")
        if metric.name == "sample_diversity" and "sample_diversity_noisy" in reference:
            ax.axhline(reference["sample_diversity_noisy"], color="tab:orange", linestyle=":",
                       linewidth=1.2, label="reference + noise")
        ax.set_title(metric.label, fontsize=10)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Spread over the sweep (finished trials); circles: best jobs per metric", fontsize=11)
    return _save(fig, path)


def critic_curves(histories: dict[str, dict[str, pd.DataFrame]], path: Path) -> Path:
    """-W of the independent critic on the validation batch and the test set against iteration,
    one line per trial; ``histories[group][trial]`` has columns step, critic_neg_w_val,
    critic_neg_w_test."""
    groups = sorted(histories)
    fig, axes = plt.subplots(len(groups), 2, figsize=(10, 3.4 * len(groups)), squeeze=False,
                             layout="constrained")
    for row, group in zip(axes, groups, strict=True):
        for trial, history in histories[group].items():
            for ax, key in zip(row, ("critic_neg_w_val", "critic_neg_w_test"), strict=True):
                if key in history:
                    ax.plot(history["step"], history[key], marker=".", linewidth=1, label=trial)
        for ax, title in zip(row, ("validation batch", "test set"), strict=True):
            ax.set_title(f"{group}: independent critic -W, {title}", fontsize=10)
            ax.set_xlabel("iteration")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path)


def latent_summary(codes: np.ndarray) -> dict[str, float]:
    """How far the codes of test images are from the prior N(0, I): their dimensions' means and
    variances, and how correlated (entangled) the dimensions are."""
    correlation = np.corrcoef(codes, rowvar=False)
    off = correlation[~np.eye(len(correlation), dtype=bool)]
    return {"latent_dims": float(codes.shape[1]), "mean_abs_mean": float(np.abs(codes.mean(0)).mean()),
            "mean_variance": float(codes.var(0).mean()), "mean_abs_correlation": float(np.abs(off).mean())}


def latent_comparison(codes: dict[str, np.ndarray], path: Path) -> Path:
    """Figures 11-12 side by side: for each group (one column) the means of the latent dimensions
    and the correlation matrix of the codes; decorrelated codes show a diagonal matrix."""
    groups = list(codes)
    fig, axes = plt.subplots(2, len(groups), figsize=(4.6 * len(groups), 8), squeeze=False, layout="constrained")
    for column, group in enumerate(groups):
        values = codes[group]
        summary = latent_summary(values)
        top, bottom = axes[0][column], axes[1][column]
        top.bar(range(values.shape[1]), values.mean(0), color="tab:blue")
        top.axhline(0, color="black", linewidth=1)
        top.set_title(f"{group}\nmeans of the {values.shape[1]} dimensions", fontsize=10)
        top.set_xlabel("dimension")
        image = bottom.imshow(np.corrcoef(values, rowvar=False), cmap="RdBu_r", vmin=-1, vmax=1)
        bottom.set_title(f"correlation of the codes (mean |off-diagonal| "
                         f"{summary['mean_abs_correlation']:.2f})", fontsize=10)
        fig.colorbar(image, ax=bottom, fraction=0.046)
    return _save(fig, path)


def latent_statistics(codes: np.ndarray, title: str, path: Path) -> Path:
    """Per-dimension means of the codes of test images (a prior N(0, I) puts them at 0) and the
    codes' covariance matrix (the identity for the prior)."""
    means = codes.mean(axis=0)
    covariance = np.cov(codes, rowvar=False)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    left.hist(means, bins=min(30, max(5, len(means) // 2)), color="tab:blue", alpha=0.8)
    left.axvline(0, color="black", linewidth=1)
    left.set_title("means of the latent dimensions", fontsize=10)
    left.set_xlabel("mean over test images")
    left.set_ylabel("dimensions")
    limit = max(1.0, float(np.abs(covariance).max()))
    image = right.imshow(covariance, cmap="RdBu_r", vmin=-limit, vmax=limit)
    right.set_title("covariance of the codes", fontsize=10)
    fig.colorbar(image, ax=right, fraction=0.046)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def agreement(correlation: pd.DataFrame, split: pd.DataFrame, path: Path) -> Path:
    """Spearman correlation of the metrics' rankings and the share of trials they put in
    different halves of the sweep."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    for ax, matrix, title, cmap, limits in (
            (axes[0], correlation, "Spearman rank correlation", "RdBu_r", (-1, 1)),
            (axes[1], split, "share of trials in the better half by the row's metric\nand the worse half "
                             "by the column's", "Oranges", (0, 1))):
        values = matrix.to_numpy(dtype=float)
        image = ax.imshow(values, cmap=cmap, vmin=limits[0], vmax=limits[1])
        ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize=8)
        for (i, j), value in np.ndenumerate(values):
            if not np.isnan(value):
                dark = abs(value) > 0.6 if cmap == "RdBu_r" else value > 0.6
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)
