"""`orchestrate evaluate` and `orchestrate classifier train`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.atomic_files import atomic_write
from trainer.config import STACKED_DATASETS, resolve_device

from . import layout
from .arg_types import count, user_path
from .errors import UsageError
from .out_of_memory import out_of_memory_as_one_line
from .sweep_classifier import classifier_of_sweep_trial
from .wording import command, counted
from .writable import check_writable_folder, disk_full_as_one_line

if TYPE_CHECKING:
    from trainer.metrics import Timer

DATASETS_WITH_CLASSIFIER = STACKED_DATASETS + ("cifar10",)

EVALUATE_HELP = """All metrics for a trial's checkpoint, or with --reference for a dataset's own test split.

Metrics: sample_diversity (1 - mean MS-SSIM over 5,000 random pairs), inception_score (+ _std over
10 splits), fid (against the test split, in the in-domain classifier's feature space), modes and
mode_kl (stacked digits: modes covered out of 1000, KL of the mode histogram to uniform),
critic_neg_w_val / critic_neg_w_test (an independent WGAN-GP critic trained --critic-steps steps on
validation data; -W on a validation batch and over the test split). --reference adds
sample_diversity_noisy (the test set with added normal noise). In-domain classifiers are trained
on first use and kept in $ALPHAGAN_CACHE/classifiers (default ~/.cache/alphagan-sweeps).
"""


def add_parsers(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="all metrics for a checkpoint or a dataset",
                                   description=EVALUATE_HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", help="a trial's output folder (holding checkpoint.pt), or a sweep "
                        "trial's folder (<storage>/<sweep>/trial_<id>)")
    parser.add_argument("--reference", action="store_true", help="evaluate the dataset's test split")
    parser.add_argument("--dataset", help="with --reference: colormnist, digits, cifar10, celeba, synthetic")
    parser.add_argument("--data-root", help="folder holding the datasets")
    parser.add_argument("--samples", type=count, default=10_000, help="samples to draw (default 10000)")
    parser.add_argument("--critic-steps", type=count, default=500,
                        help="independent critic training steps (0 skips the critic; default 500)")
    parser.add_argument("--inception-weights", type=user_path, help="torchvision Inception-v3 weights file: adds "
                        "inception_* metrics with the ImageNet network")
    parser.add_argument("--noise-std", type=float, default=0.1, help="with --reference: std of the "
                        "normal noise added to the test set for sample_diversity_noisy (default 0.1)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda where "
                        "there is a GPU, else cpu)")
    parser.add_argument("--out", type=user_path, help="folder for metrics.json (default: the run folder, or "
                        "runs/reference-<dataset>)")
    parser.set_defaults(handler=run_evaluate)

    classifier = subparsers.add_parser("classifier", help="in-domain classifiers for the metrics")
    actions = classifier.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = actions.add_parser("train", help="train and keep the classifier of a dataset")
    train.add_argument("--dataset", required=True, choices=DATASETS_WITH_CLASSIFIER,
                       help="the dataset whose classifier to train (stacked digits or CIFAR-10)")
    train.add_argument("--data-root", help="folder holding the datasets")
    train.add_argument("--steps", type=count, help="training steps (default 1000 digits, 20000 cifar10)")
    train.add_argument("--replace", action="store_true",
                       help="put the new classifier in place of a kept one trained longer")
    train.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    train.set_defaults(handler=run_classifier_train)


def _inception(args):
    if not args.inception_weights:
        return None
    from trainer.metrics.inception_v3 import InceptionClassifier
    return InceptionClassifier(args.inception_weights).to(args.device)


def print_table(metrics: dict, timer: Timer) -> None:
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {text}")
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timer.seconds.items()), file=sys.stderr)


def check_evaluate_options(args: argparse.Namespace) -> None:
    """Bad numbers and a device this machine lacks are one line before any work."""
    args.device = resolve_device(args.device)
    if args.samples < 2:
        raise UsageError(f"--samples must be at least 2 (sample diversity compares pairs), got {args.samples}")
    if args.critic_steps < 0:
        raise UsageError(f"--critic-steps must be 0 (no critic) or more, got {args.critic_steps}")
    if args.noise_std < 0:
        raise UsageError(f"--noise-std must be 0 or more, got {args.noise_std}")


def trial_checkpoint_folder(run: Path) -> Path:
    """The folder holding the checkpoint of what the user points at: a trial's --out folder, or a
    sweep trial's folder (``trial_<id>``, the one the sweep's summary names) or its work folder."""
    from trainer.checkpoint import CHECKPOINT_FILE

    work = run / layout.WORK if (run / layout.WORK).is_dir() else run
    for folder in (run, work / layout.CHECKPOINT):
        if (folder / CHECKPOINT_FILE).is_file():
            return folder
    members = sorted((f for f in (work / layout.FUSED_CHECKPOINTS).glob("*") if (f / CHECKPOINT_FILE).is_file()),
                     key=lambda f: (len(f.name), f.name))
    if members:
        raise UsageError(f"{run} holds {counted(len(members), 'fused trial')}: evaluate one, e.g. "
                         f"{command('evaluate', members[0])}")
    raise UsageError(f"no checkpoint in {run}: pass a trial's --out folder, or a sweep trial's folder "
                     "(<storage>/<sweep>/trial_<id>)")


def run_evaluate(args: argparse.Namespace) -> int:
    # the trainer's torch is imported here, when the command runs, not with the parser of every command
    from trainer import load_dataset
    from trainer.metrics import Timer, evaluate_checkpoint, evaluate_reference, has_classifier, load_or_train_classifier

    check_evaluate_options(args)
    inception = _inception(args)            # a missing or wrong weights file: one line before any data loads
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    timer = Timer(log=log)
    if args.reference:
        if not args.dataset:
            raise UsageError("--reference needs --dataset NAME")
        data = load_dataset(args.dataset, args.data_root, log=log)
        out = Path(args.out) if args.out else layout.reference_metrics_path(data.name).parent
        check_writable_folder(out, "--out")
        classifier = (load_or_train_classifier(data, log=log, device=args.device)
                      if has_classifier(data.name) else None)
        metrics = evaluate_reference(data, classifier=classifier, inception=inception,
                                     critic_steps=args.critic_steps, noise_std=args.noise_std,
                                     device=args.device, timer=timer)
        record = {"reference": data.name, "metrics": metrics, "seconds": timer.seconds}
    else:
        if not args.run:
            raise UsageError("give a trial's output folder, or --reference --dataset NAME")
        checkpoint = trial_checkpoint_folder(Path(args.run))
        out = Path(args.out or args.run)
        check_writable_folder(out, "--out")
        with out_of_memory_as_one_line(args.device, "--samples"):
            metrics, cfg = evaluate_checkpoint(checkpoint, samples=args.samples, critic_steps=args.critic_steps,
                                               data_root=args.data_root, device=args.device,
                                               classifier=classifier_of_sweep_trial(checkpoint),
                                               inception=inception, timer=timer, log=log)
        record = {"run": str(args.run), "hyperparameters": cfg.hyperparameters(), "metrics": metrics,
                  "seconds": timer.seconds}
    print_table(metrics, timer)
    with disk_full_as_one_line(out, f"--out {out}", "free space there or pass another --out; the figures are in "
                               "the table above"):
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "metrics.json", lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
    print(f"written to {out / 'metrics.json'}", file=sys.stderr)
    return 0


def run_classifier_train(args: argparse.Namespace) -> int:
    from trainer import load_dataset
    from trainer.metrics import load_or_train_classifier
    from trainer.metrics.classifiers import accuracy, classifier_path, default_steps

    args.device = resolve_device(args.device)
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {args.steps}")
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    data = load_dataset(args.dataset, args.data_root, log=log)
    path = classifier_path(data)
    check_not_weaker(data.name, path, args.steps or default_steps(data.name), args.replace)
    model = load_or_train_classifier(data, steps=args.steps, device=args.device, retrain=True, log=log)
    print(f"{data.name} classifier: test accuracy {100 * accuracy(model, data):.2f} %, kept in {path}")
    return 0


def check_not_weaker(dataset: str, path: Path, steps: int, replace: bool) -> None:
    """Every later inception score, FID and mode count of ``dataset`` reads its classifier kept at
    ``path``: a shorter retraining (--steps 10) would silently make those figures incomparable with
    earlier ones."""
    from trainer.metrics.classifiers import kept_classifier

    kept = kept_classifier(path)
    if replace or kept is None or kept["steps"] is None or steps >= kept["steps"]:
        return
    accuracy_said = f", test accuracy {100 * kept['test_accuracy']:.2f} %" if kept["test_accuracy"] is not None else ""
    raise UsageError(f"the kept {dataset} classifier ({path}) was trained {kept['steps']:,} steps"
                     f"{accuracy_said}; --steps {steps:,} would put a weaker one in its place and change every "
                     f"later inception score, FID and mode count: pass --steps {kept['steps']} or more, or "
                     "--replace to do it anyway")
