"""A trial's speed with its independent critic blocking it vs beside it (CPU, one run).

One digits α-GAN trial trains in this process (1 torch thread) while its independent critic, a
Ray actor (1 CPU), trains against the generator handed over at every report from half of
max_iter on, as in a sweep. "blocking": the trial waits at each report until the critic has
trained and scored the snapshot (the sweep before 2026-12); "beside": it hands the snapshot over
and goes on (orchestrator/critic_pipeline.py). Rounds alternate the two, so drift on a shared
machine falls on both. Prints the trial's iterations/s over the second half of training.

    python benchmarks/critic_beside.py --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ray  # noqa: E402
import torch  # noqa: E402

from orchestrator.critic_pipeline import CriticPipeline  # noqa: E402
from orchestrator.independent_critic import critic_for_trial  # noqa: E402
from orchestrator.local_ray import shutdown_ray  # noqa: E402
from orchestrator.settings import IndependentCriticSettings  # noqa: E402
from trainer import TrialConfig, load_dataset, train  # noqa: E402


def second_half_rate(wait: bool, args, data) -> float:
    cfg = TrialConfig.from_dict({"model": "alphagan", "dataset": "digits", "width": args.width, "latent_dim": 16,
                                 "batch_size": 64, "max_iter": args.iters, "report_every": args.report_every,
                                 "device": "cpu", "cuda_graphs": False, "seed": 1})
    critic = IndependentCriticSettings(enabled=True, steps_per_report=args.critic_steps, cpus=1.0, gpus=0.0,
                                       width=args.critic_width)
    actor = critic_for_trial(critic, None, cfg.hyperparameters(), None)
    ray.get(actor.state.remote())                      # the critic's process is up and has its data
    pipeline = CriticPipeline(lambda state: actor, critic.steps_per_report, wait=wait)
    marks: dict[int, float] = {}

    def evaluate(report):
        if report.iteration * 2 >= cfg.max_iter:
            pipeline.hand(report.iteration, report.algorithm.nets["generator"].state_dict())
            marks.setdefault(report.iteration, time.perf_counter())
        return {}

    train(cfg, evaluate=evaluate, data=data, log=lambda message: None)
    pipeline.collect()
    ray.kill(actor)
    first, last = min(marks), max(marks)
    return (last - first) / (marks[last] - marks[first])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iters", type=int, default=600)
    parser.add_argument("--report-every", type=int, default=50)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--critic-steps", type=int, default=50)
    parser.add_argument("--critic-width", type=float, default=0.5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    data = load_dataset("digits", log=lambda message: None)
    rates: dict[str, list[float]] = {"blocking": [], "beside": []}
    for _ in range(args.rounds):
        for mode in ("beside", "blocking"):
            rates[mode].append(second_half_rate(mode == "blocking", args, data))
            print(f"{mode}: {rates[mode][-1]:.1f} it/s", file=sys.stderr, flush=True)
    shutdown_ray()
    blocking, beside = statistics.median(rates["blocking"]), statistics.median(rates["beside"])
    print(f"| critic | trial it/s, second half (median of {args.rounds}) |\n|---|---:|\n"
          f"| blocking | {blocking:.1f} |\n| beside | {beside:.1f} ({beside / blocking:.2f}x) |")


if __name__ == "__main__":
    main()
