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
    """Seconds per metric, with the kept digits classifier (trained and kept with the product's steps
    where there is none), or with ``classifier_steps``, a throwaway one of that many steps: a quick
    run's weak classifier must not become the one every later sweep's mode counts read."""
    import torch

    from trainer import load_dataset
    from trainer.metrics import Timer, evaluate_reference, load_or_train_classifier
    from trainer.metrics.classifiers import train_digit_classifier

    torch.manual_seed(0)
    data = load_dataset("digits", log=lambda m: None)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    classifier = (load_or_train_classifier(data, log=log) if classifier_steps is None else
                  train_digit_classifier(data, steps=classifier_steps, log=log).eval())
    timer = Timer()
    evaluate_reference(data, classifier=classifier, critic_steps=critic_steps, timer=timer)
    return dict(timer.seconds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--critic-steps and --classifier-steps (also make bench's, benchmarks/run_all.py)."""
    parser.add_argument("--critic-steps", type=int, default=500, help="training steps of the independent critic")
    parser.add_argument("--classifier-steps", type=int, default=None,
                        help="train a throwaway digits classifier of this many steps (quicker on a fresh machine; "
                        "the kept one is left as it is); default: the kept one")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args()
    for name, seconds in measure(args.critic_steps, args.classifier_steps).items():
        print(f"{name:<20} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
