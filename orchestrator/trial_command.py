"""`orchestrate trial`: one trial without Ray, with a progress bar, resumable from --out."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import yaml

from trainer.config import TrialConfig, parse_overrides
from trainer.data import check_batch_size

from .arg_types import user_path
from .out_of_memory import out_of_memory_as_one_line
from .process_locks import trial_lock
from .trial_spec import build_config
from .writable import check_writable_folder, disk_full_as_one_line

HELP = """Run one trial without Ray: train a model from a YAML spec and/or --set overrides.

Checkpoints, sample grids (samples/samples_NNNNNNN.png) and reconstruction grids (models with an
encoder) are written to --out at every report and at the end. Running the same command again
resumes from the checkpoint in --out and continues bit-identically on CPU; a finished trial is
not retrained, unless a higher max_iter (--set max_iter=N) asks to train it further. Ctrl-C stops
after the current iteration and saves a checkpoint.

{hyperparameters}
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "trial", help="run one trial without Ray", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=HELP.format(hyperparameters=textwrap.fill(
            "Hyperparameters: " + ", ".join(TrialConfig.field_names()), width=99)))
    parser.add_argument("spec", nargs="?", help="YAML file: a mapping of hyperparameters or a "
                        "spec with a 'trial:' section (e.g. search_spaces/quickstart.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one hyperparameter, e.g. --set lr_generator=5e-4 (repeatable)")
    parser.add_argument("--data-root", help="folder holding the datasets (mnist/, "
                        "cifar-10-batches-py/, celeba/); not needed for digits and synthetic")
    parser.add_argument("--out", type=user_path, help="output folder for checkpoints and grids "
                        "(default: runs/<model>-<dataset>-seed<seed>)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the spec's, else auto)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # the trainer's torch is imported here, when the command runs, not with the parser of every command
    from trainer import load_dataset, train

    overrides = parse_overrides(args.overrides)
    if args.data_root is not None:
        overrides["data_root"] = args.data_root
    if args.device is not None:
        overrides["device"] = args.device
    notes: list[str] = []
    cfg = build_config(args.spec, overrides, log=notes.append)
    device = cfg.resolved_device()                                  # a GPU this machine lacks: one line
    data = load_dataset(cfg.dataset, cfg.data_root, log=notes.append)   # before the output folder
    check_batch_size(data.name, cfg.batch_size, len(data.train))
    out = Path(args.out or f"runs/{cfg.model}-{cfg.dataset}-seed{cfg.seed}")
    check_writable_folder(out, "--out")
    kept = f"any checkpoint in {out} is kept"
    with disk_full_as_one_line(out, f"--out {out}", f"free space there or pass another --out; {kept}: run the "
                               "same command again to resume from it"):
        out.mkdir(parents=True, exist_ok=True)
        with trial_lock(out):
            (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            for note in notes:
                print(note, file=sys.stderr)
            print(f"{cfg.model} on {cfg.dataset}: {cfg.max_iter:,} iterations on {device}, "
                  f"output in {out}/", file=sys.stderr)
            with out_of_memory_as_one_line(device, "batch_size, width or latent_dim", kept):
                result = train(cfg, checkpoint_dir=out, data=data, progress=not args.no_progress)
    said = result.message if result.message.startswith(result.status) else f"{result.status}: {result.message}"
    print(said, file=sys.stderr)
    if result.images:
        print("latest grids: " + ", ".join(str(p) for p in result.images.values()), file=sys.stderr)
    return {"finished": 0, "interrupted": 130}.get(result.status, 3)
