"""The figures of a whole sweep from its MLflow store and an nvidia-smi log: wall time (first
trial's start to last trial's end), trial-iterations per second summed over the sweep, trials
finished with sample grids, and the GPU's utilisation while trials ran. Used by
benchmarks/gpu_sweep.sh; runs on any sweep (on a CPU sweep without --gpu-log).

    python benchmarks/sweep_figures.py --storage runs/gpu_check --name gpu_check_colormnist_alphagan \\
        --gpu-log nvidia-smi.csv --out gpu-sweep.md
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator import layout  # noqa: E402


def trial_runs(storage: Path, name: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(layout.default_tracking_uri(storage))
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise SystemExit(f"no experiment {name!r} in {storage}")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get(layout.KIND_TAG) ==
            layout.TRIAL_KIND]
    return client, runs


def gpu_utilisation(log: Path, start: float, end: float) -> list[float]:
    """utilization.gpu samples (%) of `nvidia-smi --query-gpu=timestamp,utilization.gpu,... -l 1`
    taken between ``start`` and ``end`` (Unix seconds)."""
    samples = []
    with open(log) as handle:
        for row in csv.reader(handle):
            if not row or row[0].startswith("timestamp"):
                continue
            try:
                when = datetime.strptime(row[0].strip(), "%Y/%m/%d %H:%M:%S.%f").timestamp()
                value = float(row[1].strip().rstrip("%").strip())
            except ValueError:
                continue
            if start <= when <= end:
                samples.append(value)
    return samples


def figures(storage: Path, name: str, gpu_log: Path | None) -> list[str]:
    client, runs = trial_runs(storage, name)
    starts = [r.info.start_time / 1000 for r in runs]
    ends = [r.info.end_time / 1000 for r in runs if r.info.end_time]
    finished = [r for r in runs if r.data.tags.get(layout.STATUS_TAG) == "finished"]
    iterations = sum(int(r.data.params.get("max_iter", 0)) for r in finished)
    wall = max(ends) - min(starts) if ends else float("nan")
    with_grids = sum(1 for r in finished if client.list_artifacts(r.info.run_id, layout.SAMPLES))
    lines = ["| figure | value |", "|---|---:|",
             f"| trials (finished / all) | {len(finished)} / {len(runs)} |",
             f"| trials with sample grids in MLflow | {with_grids} |",
             f"| wall time, first trial start to last trial end | {wall:.0f} s |",
             f"| trial-iterations / s, summed over the sweep | {iterations / wall:,.0f} |"]
    if gpu_log is not None and ends:
        samples = gpu_utilisation(gpu_log, min(starts), max(ends))
        if samples:
            lines.append(f"| GPU utilisation while trials ran (nvidia-smi, {len(samples)} samples): mean / median | "
                         f"{statistics.mean(samples):.0f} % / {statistics.median(samples):.0f} % |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--gpu-log", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = "\n".join(figures(args.storage, args.name, args.gpu_log)) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
