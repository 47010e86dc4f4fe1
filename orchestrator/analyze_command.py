"""`orchestrate analyze`: quartile tables, box plots and an HTML report from a sweep's runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import layout
from .arg_types import count, user_path
from .errors import UsageError
from .layout import DEFAULT_STORAGE
from .process_locks import driver_runs
from .sweep_state import SweepState, own_store
from .tracking import check_store_version
from .wording import command, counted
from .writable import check_writable_folder

ANALYZE_HELP = """Judge models by the spread over whole sweeps (Section 6 of the paper).

Reads the sweeps' MLflow runs and writes to --out: quartile tables per model and metric
(quartiles.csv/.md), the best jobs with their hyperparameters (best_jobs.csv/.md), box plots with
the best jobs as circles and the dataset's own value as a line (box_plots.png), the independent
critic's -W during training for the best trials (critic_curves.png), latent statistics from the
codes of test images (latent_<model>.png), the metrics' rank agreement (metric_agreement.png) and
report.html with all of it embedded. The folder is also logged as artifacts "analysis/" of each
sweep's parent MLflow run. Several sweeps (e.g. one per model) are compared side by side.
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("analyze", help="quartile tables, box plots and an HTML report of sweeps",
                                   description=ANALYZE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", nargs="+", metavar="SWEEP",
                        help="a sweep spec file, an MLflow experiment name or a sweep's parent run id")
    parser.add_argument("--storage", type=user_path, default=DEFAULT_STORAGE,
                        help=f"the sweeps' --storage folder (default {DEFAULT_STORAGE})")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the one the sweep used)")
    parser.add_argument("--out", type=user_path, help="output folder (default runs/analysis/<sweep names>)")
    parser.add_argument("--reference", type=user_path, help="metrics.json of `orchestrate evaluate "
                        "--reference` (default: runs/reference-<dataset>/metrics.json when it exists)")
    parser.add_argument("--rank-by", help="metric that picks the best jobs of the tables "
                        "(default: critic_neg_w_test, else the first metric logged)")
    parser.add_argument("--best", type=count, default=10, help="best jobs shown per model (default 10)")
    parser.add_argument("--no-log", action="store_true", help="do not log the report to the parent runs")
    parser.set_defaults(handler=run_analyze)


def names_a_spec(sweep: str) -> bool:
    """Whether a SWEEP argument is a spec file (else an experiment name or a parent run id)."""
    return sweep.endswith((".yaml", ".yml")) or Path(sweep).is_file()


def resolve_sweep(sweep: str, storage: Path, tracking_uri: str | None):
    """(experiment name or run id, tracking URI, parent run id or None) of a SWEEP argument: a
    spec file (its state file in --storage names its store and parent run), an experiment name or
    a parent run id (in --tracking-uri, else --storage's SQLite store)."""
    from analysis.errors import AnalysisError

    from .spec_yaml import missing_spec_hint
    from .sweep_spec import load_sweep_spec

    if names_a_spec(sweep):
        if not Path(sweep).is_file():
            raise AnalysisError(f"no spec file {sweep}{missing_spec_hint(Path(sweep))}")
        name = load_sweep_spec(sweep).name
        state = SweepState.load(storage, name)
        if state is not None:
            return name, tracking_uri or own_store(storage, state), state.parent_run_id
        if tracking_uri is None:
            raise AnalysisError(f"no sweep {name!r} in {storage}: pass the --storage the sweep ran with, "
                                "or --tracking-uri of its MLflow server")
        return name, tracking_uri, None
    if tracking_uri is None:
        if not (storage / layout.DEFAULT_DB).is_file():
            raise AnalysisError(f"no MLflow store in {storage}: pass --storage (the sweep's) or --tracking-uri")
        tracking_uri = layout.default_tracking_uri(storage)
    return sweep, tracking_uri, None


def progress_line(sweep, argument: str, storage: Path) -> str:
    """How far a sweep is: its trials by status, of how many, and whether it runs now."""
    listed = ", ".join(f"{v} {k}" for k, v in sweep.counts().items() if v) or "none yet"
    of = f" of {sweep.planned}" if sweep.planned and sweep.planned != len(sweep.trials) else ""
    line = f"{sweep.name}: {counted(len(sweep.trials), 'trial')}{of} ({listed})"
    if sweep.interrupted:
        resume = (command("sweep", argument, "--resume", "--storage", storage)
                  if names_a_spec(argument) else "its `orchestrate sweep SPEC --resume`")
        return f"{line}; interrupted (no driver runs it), the report is partial; continue it with {resume}"
    return line + ("; still running, the report is partial" if sweep.running else "")


def default_reference(datasets: list[str]) -> str | None:
    """`orchestrate evaluate --reference`'s default output for the sweeps' one dataset, if there."""
    if len(datasets) == 1 and (path := layout.reference_metrics_path(datasets[0])).is_file():
        return str(path)
    return None


def run_analyze(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")     # the steps say how far it is
    from analysis.report import analyze, load_reference
    from analysis.runs import load_sweep

    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    if args.best < 1:
        raise UsageError("--best must be at least 1")
    sweeps, given = [], {}
    for sweep in args.sweeps:
        name, uri, parent = resolve_sweep(sweep, Path(args.storage), args.tracking_uri)
        check_store_version(uri)
        loaded = load_sweep(name, tracking_uri=uri, records=layout, parent_run_id=parent)
        if (same := given.get((loaded.tracking_uri, loaded.parent_run_id))) is not None:
            raise UsageError(f"{same} and {sweep} are the same sweep (run {loaded.parent_run_id} of {loaded.name}), "
                             "which would count its trials twice: give it once")
        given[loaded.tracking_uri, loaded.parent_run_id] = sweep
        sweeps.append(loaded)
    datasets = sorted({str(d) for s in sweeps if "dataset" in s.trials for d in s.trials["dataset"].dropna()})
    reference, source = load_reference(args.reference or default_reference(datasets), datasets)
    out = Path(args.out or f"runs/analysis/{'+'.join(s.name for s in sweeps)}")
    check_writable_folder(out, "--out")
    for sweep, argument in zip(sweeps, args.sweeps, strict=True):
        sweep.interrupted |= sweep.unfinished and driver_runs(Path(args.storage), sweep.name) is False
        log(progress_line(sweep, argument, Path(args.storage)))
    analysis = analyze(sweeps, out, reference=reference, reference_source=source, rank_by=args.rank_by,
                       best=args.best, log=log)
    if not args.no_log:
        for sweep in sweeps:
            for path in analysis.files:
                sweep.artifacts.log(sweep.parent_run_id, path, layout.ANALYSIS)
            log(f"logged to parent run {sweep.parent_run_id} of {sweep.name} (artifacts analysis/)")
    print(f"report: {out / 'report.html'}")
    return 0
