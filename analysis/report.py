"""`orchestrate analyze`: a sweep's (or several sweeps') runs turned into tables, figures and one
self-contained HTML report."""

from __future__ import annotations

import base64
import html
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import plots, samples
from .errors import AnalysisError
from .metrics import BY_NAME, MetricInfo, present
from .runs import Sweep, combine
from .tables import best_jobs, finished, markdown, metric_agreement, quartile_table, varied_hyperparameters

CRITIC_KEYS = ("critic_neg_w_val", "critic_neg_w_test")


@dataclass
class Analysis:
    out: Path
    files: list[Path] = field(default_factory=list)
    partial: bool = False
    interrupted: bool = False       # partial, and no driver runs the sweep
    notes: list[str] = field(default_factory=list)


def load_reference(path: str | None, datasets: list[str]) -> tuple[dict[str, float], str | None]:
    """The dataset's own metric values from ``orchestrate evaluate --reference`` (its metrics.json);
    none without ``path``."""
    if path is None:
        return {}, None
    make = f"make one with `orchestrate evaluate --reference --dataset {datasets[0] if datasets else 'NAME'}`"
    if not Path(path).is_file():
        raise AnalysisError(f"no reference file {path}: {make}")
    try:
        record = json.loads(Path(path).read_text())
        metrics = record["metrics"]
    except (OSError, ValueError, KeyError, TypeError):
        raise AnalysisError(f"{path} is not a metrics.json of `orchestrate evaluate --reference`") from None
    if "reference" not in record and "run" in record:
        raise AnalysisError(f"{path} holds the metrics of the trial {record['run']}, not a dataset's own "
                            f"values: {make}")
    if record.get("reference") not in datasets:
        raise AnalysisError(f"{path} holds the reference of {record.get('reference')!r}, but the sweep "
                            f"trained on {', '.join(datasets)}")
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}, path


def comparable_reference(reference: dict[str, float], done: pd.DataFrame, notes: list[str]) -> dict[str, float]:
    """The reference without its critic values when its critic trained a different number of
    steps than the trials' critics (-W grows with the critic's training: not comparable)."""
    trial_steps = sorted(done["critic_steps"].dropna().unique()) if "critic_steps" in done else []
    if "critic_steps" not in reference or trial_steps == [reference["critic_steps"]]:
        return reference
    notes.append(f"No reference line for the critic: the reference critic trained {reference['critic_steps']:g} "
                 f"steps, the trials' critics {', '.join(f'{s:g}' for s in trial_steps) or 'an unknown number of'} "
                 "steps, and -W depends on how long a critic trained.")
    return {k: v for k, v in reference.items() if not k.startswith("critic_")}


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def critic_histories(sweeps: list[Sweep], best: pd.DataFrame) -> dict[str, dict[str, pd.DataFrame]]:
    """The critic's -W against iteration for the ``best`` trials, from the runs' metric histories."""
    uris = {s.name: s.tracking_uri for s in sweeps}
    histories: dict[str, dict[str, pd.DataFrame]] = {}
    records = {s.name: s.records for s in sweeps}
    for row in best.itertuples():
        client = _client(uris[row.sweep])
        columns = {}
        for key in CRITIC_KEYS:
            points: dict[int, float] = {}
            for name in records[row.sweep].metric_names(key):      # sectioned, or an older sweep's
                points = {m.step: m.value for m in client.get_metric_history(row.run_id, name)}
                if points:
                    break
            columns[key] = pd.Series(points, dtype=float)
        history = pd.DataFrame(columns).sort_index().rename_axis("step").reset_index()
        if len(history):
            histories.setdefault(row.group, {})[row.trial] = history
    return histories


def load_test_codes(sweep: Sweep, run_id: str, folder: Path) -> np.ndarray | None:
    """The codes of test images a trial saved at its final evaluation (models with an encoder)."""
    files = sorted(path for path in sweep.artifacts.list(run_id, sweep.records.LATENT) if path.endswith(".npy"))
    if not files:
        return None
    return np.load(sweep.artifacts.download(run_id, files[-1], folder))


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0,
                         classes="table", escape=True)


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table.table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}
.table th,.table td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
.table th{background:#f3f3f3}.partial{background:#fff3cd;border:1px solid #e0c060;padding:0.6em 1em}
img{max-width:100%;margin:0.5em 0 1.5em}h2{border-bottom:2px solid #ccc;padding-bottom:4px}
.note{color:#555;font-size:13px}table.samples td{vertical-align:top;padding:4px}
table.samples img{max-width:360px;image-rendering:pixelated}"""


def analyze(sweeps: list[Sweep], out: Path, *, reference: dict[str, float], reference_source: str | None,
            rank_by: str | None = None, best: int = 10, curves: int = 5,
            log: Callable[[str], None] = print) -> Analysis:
    frame = combine(sweeps)
    counts = {s.name: s.counts() for s in sweeps}
    done = finished(frame)
    if done.empty:
        summary = "; ".join(f"{name}: " + ", ".join(f"{v} {k}" for k, v in c.items() if v)
                            for name, c in counts.items())
        wait = "resume the sweep" if any(s.interrupted for s in sweeps) else "wait for trials to finish"
        raise AnalysisError(f"no finished trial to analyse yet ({summary or 'no trials'}); {wait}, or see why "
                            "they ended in `orchestrate ui`")
    metrics = present(done)
    if not metrics:
        raise AnalysisError("the finished trials logged none of the sweep metrics (critic -W, inception "
                            "score, diversity, modes, FID): was the critic or the final evaluation off?")
    if rank_by is not None and rank_by not in BY_NAME:
        raise AnalysisError(f"--rank-by {rank_by!r} is not a metric; choose one of "
                            f"{', '.join(m.name for m in metrics)}")
    rank = BY_NAME[rank_by] if rank_by else metrics[0]
    analysis = Analysis(out, partial=any(s.unfinished for s in sweeps),
                        interrupted=any(s.interrupted for s in sweeps))
    # each hyperparameter once, though several sweeps have it
    hyperparameters = varied_hyperparameters(frame, list(dict.fromkeys(h for s in sweeps for h in s.hyperparameters)))
    analysis.notes += unfinished(frame, hyperparameters)
    reference = comparable_reference(reference, done, analysis.notes)
    out.mkdir(parents=True, exist_ok=True)
    step = _Steps(log, 7)

    step("tables")
    status = pd.DataFrame([{"sweep": name, **c} for name, c in counts.items()])
    quartiles = quartile_table(frame, metrics)
    top = best_jobs(frame, rank, reference, best)
    top_columns = ["group", "trial", *hyperparameters, *[m.name for m in metrics]]
    top = top[[c for c in top_columns if c in top]]
    correlation, split = metric_agreement(frame, metrics, reference)
    frame.to_csv(_add(analysis, out / "trials.csv"), index=False)
    quartiles.to_csv(_add(analysis, out / "quartiles.csv"), index=False)
    _add(analysis, out / "quartiles.md").write_text(markdown(quartiles))
    top.to_csv(_add(analysis, out / "best_jobs.csv"), index=False)
    _add(analysis, out / "best_jobs.md").write_text(markdown(top))
    correlation.rename_axis("metric").to_csv(_add(analysis, out / "metric_correlation.csv"))
    split.rename_axis("metric").to_csv(_add(analysis, out / "metric_different_halves.csv"))

    step("box plots")
    figures = {"box": _add(analysis, plots.box_plots(frame, metrics, reference, out / "box_plots.png", best))}
    step("critic curves")
    if any(k in done for k in CRITIC_KEYS):
        critic_rank = BY_NAME["critic_neg_w_test"] if "critic_neg_w_test" in done else rank
        curve_trials = best_jobs(frame, critic_rank, reference, curves)
        histories = critic_histories(sweeps, curve_trials)
        if histories:
            figures["critic"] = _add(analysis, plots.critic_curves(histories, out / "critic_curves.png"))
    step("latent statistics")
    latent: dict[str, Path] = {}
    by_sweep = {s.name: s for s in sweeps}
    all_codes: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for row in best_jobs(frame, rank, reference, 1).itertuples():
            codes = load_test_codes(by_sweep[row.sweep], row.run_id, Path(scratch))
            if codes is not None:
                all_codes[row.group] = codes
                title = f"{row.group}: codes of {len(codes):,} test images, best trial by {rank.name} ({row.trial})"
                name = samples.safe(row.group)
                latent[row.group] = _add(analysis, plots.latent_statistics(codes, title, out / f"latent_{name}.png"))
    latent_table = pd.DataFrame([{"group": g, **plots.latent_summary(c)} for g, c in all_codes.items()])
    if len(all_codes) > 1:
        figures["latent"] = _add(analysis, plots.latent_comparison(all_codes, out / "latent_comparison.png"))
    if len(latent_table):
        latent_table.to_csv(_add(analysis, out / "latent_statistics.csv"), index=False)
    step("samples")
    visual = BY_NAME["critic_neg_w_test"] if "critic_neg_w_test" in done else rank
    with tempfile.TemporaryDirectory() as scratch:
        artifacts = {s.name: s.artifacts for s in sweeps}
        pictures = samples.pictures(frame, artifacts, visual, metrics, reference, out, Path(scratch))
    for group in pictures:
        for path in (group.best, group.reconstructions, *(p for _, p in group.by_metric.values())):
            if path is not None and path not in analysis.files:
                _add(analysis, path)
    step("metric agreement")
    if len(metrics) > 1 and len(done) >= 3:
        figures["agreement"] = _add(analysis, plots.agreement(correlation, split, out / "metric_agreement.png"))
    else:
        analysis.notes.append("Metric agreement needs two metrics or more and three finished trials or more; "
                              f"this analysis has {len(metrics)} metric(s) and {len(done)} finished trial(s).")
    step("HTML report")
    report = out / "report.html"
    report.write_text(_html(sweeps, status, quartiles, top, rank, figures, latent, correlation, split,
                            reference, reference_source, analysis, metrics, best,
                            extra=_latent_html(latent_table, figures) + _samples_html(pictures, visual)))
    analysis.files.append(report)
    return analysis


UNFINISHED = {"stopped": "Stopped early by the scheduler (ASHA)",
              "diverged": "Diverged (a loss became non-finite; the trial keeps its last good checkpoint)",
              "failed": "Failed after every retry (the traceback is the trial's error.txt)"}
LISTED = 20                             # trials named per note; trials.csv has them all


def unfinished(frame: pd.DataFrame, hyperparameters: list[str]) -> list[str]:
    """A note per ending other than finished, naming each such trial with the hyperparameters the
    sweep varies (where in the grid training was stopped, diverged or crashed) and, for a trial
    the scheduler stopped, the iteration it reached."""
    notes = []
    for status, what in UNFINISHED.items():
        ended = frame[frame["status"] == status]
        if ended.empty:
            continue
        each = [_named(row, hyperparameters) for _, row in ended.head(LISTED).iterrows()]
        more = f" and {len(ended) - LISTED} more (trials.csv has them all)" if len(ended) > LISTED else ""
        notes.append(f"{what}, not in the tables: {', '.join(each)}{more}.")
    return notes


def _named(row: pd.Series, hyperparameters: list[str]) -> str:
    stopped_at = row.get("stopped_at")
    reached = f" at iteration {int(stopped_at):,}" if row["status"] == "stopped" and pd.notna(stopped_at) else ""
    return row["trial"] + reached + _values(row, hyperparameters)


def _values(row: pd.Series, hyperparameters: list[str]) -> str:
    """' (lr_generator 0.0005, latent_dim 8)': a trial's values of the varied hyperparameters."""
    shown = [f"{h} {row[h]:g}" if isinstance(row[h], float) else f"{h} {row[h]}"
             for h in hyperparameters if h in row and pd.notna(row[h])]
    return f" ({', '.join(shown)})" if shown else ""


def _add(analysis: Analysis, path: Path) -> Path:
    analysis.files.append(path)
    return path


class _Steps:
    """Concise progress lines: [k/n] what, with the seconds since the start."""

    def __init__(self, log, total: int):
        self.log, self.total, self.count, self.start = log, total, 0, time.perf_counter()

    def __call__(self, what: str) -> None:
        self.count += 1
        self.log(f"[{self.count}/{self.total}] {what} ({time.perf_counter() - self.start:.1f} s)")


def _latent_html(table: pd.DataFrame, figures: dict[str, Path]) -> list[str]:
    if "latent" not in figures:
        return []
    return ["<h2>Latent statistics side by side (Figures 11-12)</h2>",
            "<p class='note'>Codes of test images of each model's best trial. A prior N(0, I) puts every "
            "mean at 0 and the correlation matrix at the identity: decorrelated codes show a diagonal, "
            "entangled ones off-diagonal structure (mean_abs_correlation).</p>",
            _image(figures["latent"], "latent statistics side by side"), _table_html(table)]


def _samples_html(pictures: list[samples.GroupPictures], visual: MetricInfo) -> list[str]:
    if not pictures:
        return []
    parts = ["<h2>Samples</h2>",
             f"<p class='note'>Each model's best job by {html.escape(visual.label)}, the stand-in for visual "
             "inspection (Figures 3, 4 and 6): its last sample grid and, for models with an encoder, its "
             "reconstructions (each real image followed by its reconstruction; Appendix C, Figure 8).</p>"]
    for group in pictures:
        parts.append(f"<h3>{html.escape(group.group)}: {html.escape(group.trial)}</h3>")
        parts.append(_image(group.best, f"samples {group.group}"))
        if group.reconstructions is not None:
            parts += ["<p class='note'>Reconstructions</p>", _image(group.reconstructions,
                                                                    f"reconstructions {group.group}")]
    parts += ["<h2>Best samples by each metric (Figure 14)</h2>",
              "<p class='note'>For each model, the samples of the best job by each metric, side by side.</p>"]
    for group in pictures:
        cells = "".join(f"<td><div class='note'>{html.escape(metric)}<br>{html.escape(trial)}</div>"
                        f"{_image(path, f'{group.group} best by {metric}')}</td>"
                        for metric, (trial, path) in group.by_metric.items())
        parts.append(f"<h3>{html.escape(group.group)}</h3><table class='samples'><tr>{cells}</tr></table>")
    return parts


def _html(sweeps, status, quartiles, top, rank: MetricInfo, figures, latent, correlation, split, reference,
          reference_source, analysis: Analysis, metrics, best: int, extra: list[str] = ()) -> str:
    names = ", ".join(s.name for s in sweeps)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Sweep analysis: {html.escape(names)}"
             f"</title><style>{STYLE}</style></head><body>",
             f"<h1>Sweep analysis: {html.escape(names)}</h1>",
             f"<p class='note'>Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from "
             + "; ".join(f"{html.escape(s.name)} (parent run {s.parent_run_id}, "
                         f"{html.escape(s.records.redact_uri(s.tracking_uri))})"
                         for s in sweeps) + ".</p>"]
    if analysis.partial:
        now, then = (("was interrupted", "Resume it, and run the analysis again when it ends") if analysis.interrupted
                     else ("is still running", "Run the analysis again when it ends"))
        parts.append(f"<p class='partial'><b>Partial results:</b> the sweep {now}; the tables and plots cover "
                     f"the trials finished so far. {then}.</p>")
    parts += ["<h2>Trials</h2>", _table_html(status),
              "<p class='note'>Quartiles, best jobs and plots use the finished trials; diverged, stopped "
              "and failed trials are counted here only.</p>",
              "<h2>Spread over the sweep</h2>", _image(figures["box"], "box plots"),
              "<h2>Quartiles</h2>", _table_html(quartiles),
              f"<h2>Best {best} jobs per model by {html.escape(rank.label)}</h2>", _table_html(top)]
    if "critic" in figures:
        parts += ["<h2>Independent critic during training (best trials)</h2>",
                  _image(figures["critic"], "critic curves")]
    if latent:
        parts.append("<h2>Latent statistics</h2>")
        parts += [_image(path, f"latent statistics {group}") for group, path in latent.items()]
    parts += list(extra)
    if "agreement" in figures:
        parts += ["<h2>Metric agreement</h2>",
                  "<p class='note'>Rankings use each metric's better direction (diversity: closeness "
                  "to the reference). Different halves (Appendix G's statistic, one direction): the share "
                  "of trials in the better half by the row's metric and the worse half by the column's.</p>",
                  _image(figures["agreement"], "metric agreement"),
                  _table_html(correlation.reset_index(names="spearman")),
                  _table_html(split.reset_index(names="different halves"))]
    parts.append("<h2>Reference values</h2>")
    if reference:
        shown = {k: v for k, v in reference.items() if k in {m.name for m in metrics} | {"sample_diversity_noisy"}}
        parts += [f"<p class='note'>From {html.escape(str(reference_source))}.</p>",
                  _table_html(pd.DataFrame([shown]))]
    else:
        datasets = sorted({d for s in sweeps for d in s.trials["dataset"].dropna()})
        dataset = html.escape(datasets[0]) if len(datasets) == 1 else "NAME"
        parts.append(f"<p class='note'>None: run <code>orchestrate evaluate --reference --dataset {dataset}</code>, "
                     "then analyze again from the same folder (or pass its metrics.json with --reference) to "
                     "draw the dataset's own values.</p>")
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in analysis.notes]
    parts.append("</body></html>")
    return "\n".join(parts)
