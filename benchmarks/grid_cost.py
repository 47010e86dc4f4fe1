"""What each paper grid costs on one GPU and on 8, from measured rates: the trial-iterations/s of
N one-trial processes sharing one GPU, per model and dataset (`benchmarks/gpu.py --grid-rates N`
writes them to rates.json), and the trials and iterations of the shipped sweep specs
(search_spaces/{dataset}_{model}.yaml, expanded as `orchestrate sweep` expands them).

The estimate: with N trials per GPU (the packing the rates were measured at, so `trials_per_gpu: N`)
and G GPUs, the trials run in waves of N x G; a wave lasts max_iter / (rate / N) (a last, partial
wave is counted at the full wave's speed: an upper bound for it). Not counted: Ray
and process start-up, checkpoints, the independent critic (beside its trial, on a tenth of its slot)
and the final evaluation. Prints a Markdown table and writes it to --out:

    python benchmarks/grid_cost.py --rates /tmp/gpu_check/rates.json --gpus 1 8 --out grid-cost.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestrator.sweep_spec import load_sweep_spec  # noqa: E402


@dataclass(frozen=True)
class GridCost:
    dataset: str
    model: str
    trials: int
    max_iter: int
    rate: float                 # trial-iterations/s of `per_gpu` trials on one GPU
    per_gpu: int

    def wall_seconds(self, gpus: int) -> float:
        waves = math.ceil(self.trials / (self.per_gpu * gpus))
        return waves * self.max_iter / (self.rate / self.per_gpu)

    def gpu_hours(self) -> float:
        return self.trials * self.max_iter / self.rate / 3600


def duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


def grid_costs(record: dict, spec_folder: Path) -> list[GridCost]:
    costs = []
    for dataset, by_model in record["rates"].items():
        for model, rate in by_model.items():
            spec = load_sweep_spec(spec_folder / f"{dataset}_{model}.yaml")
            costs.append(GridCost(dataset, model, spec.trial_count, spec.max_iter, rate, record["processes"]))
    return costs


def table(record: dict, costs: list[GridCost], gpus: list[int]) -> list[str]:
    lines = [f"Measured on {record['card']} (torch {record['torch']}): {record['processes']} one-trial processes "
             f"per GPU, {record['variant']}, {record['iterations']} timed iterations each "
             f"({record.get('source', '`benchmarks/gpu.py --grid-rates`')}). Wall time = waves of "
             f"{record['processes']} x GPUs trials, each wave max_iter / (rate / {record['processes']}); "
             "start-up, checkpoints, the independent critic and the final evaluation are not counted.", "",
             "| grid | trials x iterations | trial-it/s per GPU | GPU-hours | "
             + " | ".join(f"wall, {g} GPU{'s' if g > 1 else ''}" for g in gpus) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(gpus)]
    for c in costs:
        lines.append(f"| {c.dataset} {c.model} | {c.trials} x {c.max_iter:,} | {c.rate:,.0f} | {c.gpu_hours():,.1f} | "
                     + " | ".join(duration(c.wall_seconds(g)) for g in gpus) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=Path, required=True, help="rates.json of benchmarks/gpu.py --grid-rates")
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--specs", type=Path, default=REPO / "search_spaces")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    record = json.loads(args.rates.read_text())
    text = "\n".join(table(record, grid_costs(record, args.specs), args.gpus)) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
