"""Entry point of the `orchestrate` command."""

from __future__ import annotations

import argparse
import os
import sys

from analysis.errors import AnalysisError
from trainer.config import ConfigError
from trainer.errors import CheckpointError, DatasetError, MetricsError

from . import analyze_command, evaluate_command, sweep_command, trial_command
from .errors import CREDENTIALS_HINT, SpecError, UsageError
from .writable import disk_full

USER_ERRORS = (ConfigError, DatasetError, SpecError, UsageError, MetricsError, CheckpointError,
               AnalysisError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrate",
        description="Sweeps of auto-encoding GANs (alpha-GAN, DCGAN, WGAN-GP, AGE).")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    trial_command.add_parser(subparsers)
    evaluate_command.add_parsers(subparsers)
    sweep_command.add_parsers(subparsers)
    analyze_command.add_parser(subparsers)
    return parser


def refused_by_tracking_server(err: Exception) -> bool:
    """MLflow's error for a server that wants a user and password (basic auth), without importing
    mlflow here."""
    text = str(err)
    return type(err).__name__ in ("MlflowException", "RestException") and (
        "error code 401" in text or "UNAUTHENTICATED" in text or "401 Client Error" in text)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as err:
        message = " ".join(str(err).split())          # one line, whatever a value in it holds
        if "error code 401" in message:              # e.g. analyze's reading of a run, refused
            message = f"{message.split(' Response body:')[0]}; {CREDENTIALS_HINT}"
        print(f"orchestrate {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:                        # e.g. `orchestrate sweep SPEC --dry-run | head`
        # Python's recipe: the rest of the output goes nowhere, so its flush at exit cannot fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:
        if (full := disk_full(err)) is not None:       # a disk the command's own check did not cover
            where = f" writing {full.filename}" if full.filename else ""
            print(f"orchestrate {args.command}: error: a disk is full ({os.strerror(full.errno)}{where}): free "
                  "space on it and run the same command again", file=sys.stderr)
            return 2
        if not refused_by_tracking_server(err):
            raise
        print(f"orchestrate {args.command}: error: the tracking server refused the request (HTTP 401: no or wrong "
              f"credentials); {CREDENTIALS_HINT}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"orchestrate {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    from .process_exit import exit_code

    sys.exit(exit_code(main()))
