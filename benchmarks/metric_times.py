"""Time of each metric on 10,000 samples: the embedded digits test set stands in for a model's
samples (same 28x28x3 shape as ColorMNIST), with its in-domain classifier (trained once and
cached) and the independent critic trained 500 steps.

    python benchmarks/metric_times.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(critic_steps: int = 500, classifier_steps: int | None = None) -> dict[str, float]:
    """Seconds per metric; ``classifier_steps``: the classifier's training steps where none is cached
    (default: the product's)."""
    import torch

    from trainer import load_dataset
    from trainer.metrics import Timer, evaluate_reference, load_or_train_classifier

    torch.manual_seed(0)
    data = load_dataset("digits", log=lambda m: None)
    classifier = load_or_train_classifier(data, steps=classifier_steps, log=lambda m: print(m, file=sys.stderr))
    timer = Timer()
    evaluate_reference(data, classifier=classifier, critic_steps=critic_steps, timer=timer)
    return dict(timer.seconds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--critic-steps and --classifier-steps (also make bench's, benchmarks/run_all.py)."""
    parser.add_argument("--critic-steps", type=int, default=500, help="training steps of the independent critic")
    parser.add_argument("--classifier-steps", type=int, default=None,
                        help="training steps of the digits classifier where none is cached (default: the product's)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args()
    for name, seconds in measure(args.critic_steps, args.classifier_steps).items():
        print(f"{name:<20} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
