"""Orchestration overhead per trial: a sweep of short trials run by `orchestrate sweep` (Ray Tune,
MLflow, the critic as a side actor, checkpoints) against the same trials' work done in one
process (training, critic steps at the same reports, final evaluation). Trials run one at a time
(each reserves both CPUs of a 2-core machine), so

    overhead per trial = gap since the previous trial ended + (its time - the same work in process)

(median over the trials after the first; the in-process work is timed before and after the
sweeps). Ray's own start is excluded (the driver prints it), and the first trial's extra time
(worker processes starting, imports) is reported apart.

    python benchmarks/orchestration.py [--trials 8] [--no-reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def spec(trials: int) -> dict:
    return {"name": "overhead",
            "trial": {"model": "alphagan", "dataset": "synthetic", "width": 0.125, "batch_size": 16,
                      "latent_dim": 8, "max_iter": 20, "report_every": 10, "device": "cpu"},
            "seeds": list(range(trials)),
            "resources": {"cpus": 1, "gpus": 0},
            "independent_critic": {"enabled": True, "steps_per_report": 5, "cpus": 1, "gpus": 0},
            "evaluation": {"samples": 200, "diversity_pairs": 200, "codes": 100},
            "max_failures": 0}


def in_process(content: dict, folder: Path) -> list[float]:
    """Seconds each trial's work takes in this process, one after another."""
    import torch

    from orchestrator.sweep_spec import load_sweep_spec
    from orchestrator.trial_harness import final_evaluation
    from trainer import TrialConfig, load_dataset, train
    from trainer.metrics import IndependentCritic
    from trainer.networks import DATASET_ARCHITECTURE

    torch.set_num_threads(1)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(content))
    sweep = load_sweep_spec(path)
    times = []
    for index, hp in enumerate(sweep.trials):
        start = time.perf_counter()
        cfg = TrialConfig.from_dict({**hp, "device": "cpu"})
        data = load_dataset(cfg.dataset, None, log=lambda m: None)
        critic = IndependentCritic(DATASET_ARCHITECTURE[cfg.dataset], data.val, data.test, width=cfg.width,
                                   seed=cfg.seed)

        def evaluate(report, cfg=cfg, critic=critic, data=data, latent=folder / f"latent{index}"):
            metrics = {}
            if report.iteration * 2 >= cfg.max_iter:
                algo = report.algorithm
                sample = lambda n: algo.generate(algo.sample_prior(n, generator=critic.rng))  # noqa: E731
                critic.train(sample, sweep.independent_critic.steps_per_report)
                metrics = {"critic_neg_w_val": critic.neg_w_validation(sample),
                           "critic_neg_w_test": critic.neg_w_test(sample)}
            if report.iteration == cfg.max_iter:
                metrics.update(final_evaluation(report, data, sweep.evaluation, None, latent,
                                                lambda m: None)[0])
            return metrics

        train(cfg, None, folder / f"trial{index}", data=data, evaluate=evaluate, log=lambda m: None)
        times.append(time.perf_counter() - start)
    return times


def trial_spans(experiment: Path) -> list[tuple[float, float]]:
    """(start, end) wall-clock times of each trial's function, in start order, from the final
    result each trial reports to Ray Tune (trial_started_at, trial_ended_at)."""
    spans = []
    for result in experiment.glob("trial_*/result.json"):
        last = json.loads([line for line in result.read_text().splitlines() if line.strip()][-1])
        spans.append((last["trial_started_at"], last["trial_ended_at"]))
    return sorted(spans)


def swept(content: dict, folder: Path, reuse: bool) -> dict:
    """`orchestrate sweep` of the spec: Ray start and trials seconds (printed by the driver) and
    the trials' spans."""
    name = f"overhead_{'reuse' if reuse else 'stock'}"
    path = folder / f"sweep-{reuse}.yaml"
    path.write_text(yaml.safe_dump({**content, "name": name}))
    env = dict(os.environ, ALPHAGAN_REUSE_ACTORS="1" if reuse else "0")
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(path), "--storage",
                          str(folder / f"storage-{reuse}")], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"the sweep failed:\n{out.stderr[-3000:]}")
    found = re.search(r"Ray started in ([\d.]+) s; trials ran ([\d.]+) s", out.stderr)
    return {"ray_start_s": float(found.group(1)), "trials_s": float(found.group(2)),
            "spans": trial_spans(folder / f"storage-{reuse}" / name)}


def measure(trials: int, reuse_modes=(False, True)) -> dict:
    """Per trial after the first: the gap from the previous trial's end to its start plus how much
    longer it ran than the same work in one process (median over trials). The first trial's extra
    time (worker processes starting, torch and MLflow imported) is reported apart: it is paid
    once per worker, like Ray's own start."""
    content = spec(trials)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # the in-process work is timed before and after the sweeps, so that a machine whose speed
        # drifts (shared CPUs) biases neither side
        before = in_process(content, folder / "before")
        runs = {reuse: swept(content, folder, reuse) for reuse in reuse_modes}
        after = in_process(content, folder / "after")
        typical = statistics.median(before[1:] + after[1:]) if trials > 1 else statistics.mean(before + after)
        results = {"trials": trials, "in_process_s": (sum(before) + sum(after)) / 2, "in_process_typical_s": typical}
        for reuse, run in runs.items():
            spans = run["spans"]
            if len(spans) != trials or any(spans[k][0] < spans[k - 1][1] - 0.5 for k in range(1, len(spans))):
                sys.exit(f"the sweep ran {len(spans)} trials, not {trials} one after another: its overheads "
                         "per trial would mean nothing")
            first_start = spans[-1][1] - run["trials_s"]
            per_trial = [(start - spans[k - 1][1]) + (end - start - typical)
                         for k, (start, end) in enumerate(spans) if k > 0]
            run.update(first_trial_extra_s=(spans[0][0] - first_start) + (spans[0][1] - spans[0][0] - typical),
                       overhead_per_trial_s=statistics.median(per_trial), overhead_quartiles_s=quartiles(per_trial),
                       gap_per_trial_s=statistics.median(spans[k][0] - spans[k - 1][1] for k in range(1, len(spans))))
            results["reuse" if reuse else "stock"] = run
    return results


def quartiles(values: list[float]) -> tuple[float, float]:
    """The first and third quartiles: the median overhead of a few trials on a shared machine can
    land below 0 (a trial that ran faster than the in-process median), and the spread says how
    far that is noise."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--no-reuse", action="store_true", help="only the sweep without actor reuse")
    args = parser.parse_args()
    result = measure(args.trials, (False,) if args.no_reuse else (False, True))
    print(f"{args.trials} trials; their work in one process: {result['in_process_s']:.1f} s "
          f"(typical trial {result['in_process_typical_s']:.2f} s)")
    for mode in ("stock", "reuse"):
        if mode in result:
            r = result[mode]
            print(f"{mode:>6}: Ray start {r['ray_start_s']:.1f} s, trials ran {r['trials_s']:.1f} s; first trial "
                  f"+{r['first_trial_extra_s']:.1f} s; then {r['overhead_per_trial_s']:.2f} s overhead per trial "
                  f"(quartiles {r['overhead_quartiles_s'][0]:.2f} to {r['overhead_quartiles_s'][1]:.2f} s; "
                  f"gap between trials {r['gap_per_trial_s']:.2f} s)")


if __name__ == "__main__":
    main()
