"""`orchestrate sweep` and `orchestrate ui`."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from trainer.memory import in_binary_units

from . import layout
from .arg_types import user_path
from .dry_run import print_trials
from .errors import UsageError
from .job_submission import JobRequest, is_job_address, submit_sweep
from .layout import DEFAULT_STORAGE
from .mlflow_ui import serve
from .storage_need import sweep_checkpoint_bytes
from .sweep_spec import load_sweep_spec
from .tracking import check_store_version, moved_artifact_notes
from .wording import counted, mlflow_program

SWEEP_HELP = """Run a sweep spec's trials on Ray Tune, tracked in MLflow.

Every grid point (times every seed) is one trial. Trials run on GPUs with fractional shares when
the cluster has GPUs, on CPUs otherwise. Each trial starts an independent Wasserstein critic as a
Ray actor in resources it reserved; the critic's process starts with the trial and it trains from
half of max_iter on, beside the trial. A failed trial is retried from its last checkpoint
(max_failures in the spec); an interrupted sweep continues with --resume without rerunning
finished trials. MLflow: one parent run per sweep, one child run per trial.
"""


def add_parsers(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="run a sweep spec on Ray Tune with MLflow tracking",
                                   description=SWEEP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="sweep spec, e.g. search_spaces/celeba_alphagan.yaml")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the trials and their count, and start nothing: on a terminal, a table of the "
                        "settings that vary; piped, every trial's hyperparameters as one JSON object per line")
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true", help="continue an interrupted sweep")
    resume.add_argument("--resume-if-started", action="store_true",
                        help="continue the sweep if it has started in --storage, else start it (a batch job "
                        "submitted again and again: docker/slurm-sweep.sbatch)")
    parser.add_argument("--address", help="http://HEAD:8265: submit the sweep to that Ray cluster as a Ray job "
                        "(from any machine; Ctrl-C detaches); HEAD:6379: join the cluster from a machine that is "
                        "one of its Ray nodes; default: start a local Ray")
    parser.add_argument("--storage", type=user_path, default=DEFAULT_STORAGE,
                        help="folder every node can reach for Ray Tune files and checkpoints "
                        f"(default {DEFAULT_STORAGE})")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (a server or another SQLite file); "
                        "default: sqlite:///<storage>/mlflow.db")
    parser.add_argument("--data-root", help="folder holding the datasets, on every node")
    parser.add_argument("--verbose", action="store_true",
                        help="also show Ray's and MLflow's own messages and Ray Tune's console output")
    parser.set_defaults(handler=run_sweep_command)

    ui = subparsers.add_parser("ui", help="open the MLflow UI on a sweep store (127.0.0.1 only)")
    ui.add_argument("--storage", type=user_path, default=DEFAULT_STORAGE,
                    help=f"sweep storage folder (default {DEFAULT_STORAGE})")
    ui.add_argument("--tracking-uri", help="another backend store URI")
    ui.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default 5000); from another "
                    "machine, tunnel to it: ssh -L 5000:127.0.0.1:5000 THIS_HOST")
    ui.add_argument("--verbose", action="store_true",
                    help="also show the MLflow server's own start-up messages and a line per request")
    ui.set_defaults(handler=run_ui)


def run_sweep_command(args: argparse.Namespace) -> int:
    spec = load_sweep_spec(args.spec)
    if args.dry_run:
        need = sweep_checkpoint_bytes(spec)             # a network too large to build: one line, before the trials
        print_trials(spec, sys.stdout)
        what = (f"{spec.num_samples} optuna samples over these values (one that repeats a combination trains "
                "with the next seed)" if spec.search == "optuna" else counted(len(spec.trials), "trial"))
        if spec.fuse_trials > 1:
            what += f", fused into {len(spec.tune_trials)} models of up to {spec.fuse_trials} trials"
        print(f"{spec.name}: {what}; their checkpoints need about {in_binary_units(need)} "
              "on --storage", file=sys.stderr)
        return 0
    if is_job_address(args.address):
        request = JobRequest(storage=args.storage, tracking_uri=args.tracking_uri, data_root=args.data_root,
                             resume=args.resume, verbose=args.verbose, resume_if_started=args.resume_if_started)
        return submit_sweep(spec, args.address, request)
    from .sweep import SweepOptions, run_sweep

    return run_sweep(spec, SweepOptions(storage=Path(args.storage), address=args.address,
                                        tracking_uri=args.tracking_uri, resume=args.resume,
                                        data_root=args.data_root, verbose=args.verbose,
                                        resume_if_started=args.resume_if_started))


def check_port_free(port: int) -> None:
    """The UI's port, before the server starts: in use, MLflow's server says so in the middle of
    its start-up lines and exits 0, while another server goes on answering on that port."""
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: a port is 1-65535")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the server: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise UsageError(f"--port {port} is in use on 127.0.0.1 ({err.strerror}; another MLflow UI?): stop that "
                             "server or pass another --port") from None


def run_ui(args: argparse.Namespace) -> int:
    uri = args.tracking_uri or layout.default_tracking_uri(Path(args.storage))
    if args.tracking_uri is None and not (Path(args.storage) / layout.DEFAULT_DB).is_file():
        raise UsageError(f"no MLflow store in {args.storage}: run a sweep first or pass --storage/--tracking-uri")
    check_port_free(args.port)
    check_store_version(uri)
    print(f"MLflow UI on http://127.0.0.1:{args.port} (store {uri}), on this machine only (from another: ssh -L "
          f"{args.port}:127.0.0.1:{args.port} {socket.gethostname()}); Ctrl-C stops it", file=sys.stderr)
    for note in moved_artifact_notes(uri):
        print(note, file=sys.stderr)
    command = [mlflow_program(), "ui", "--backend-store-uri", uri,
               "--registry-store-uri", uri, "--host", "127.0.0.1", "--port", str(args.port),
               # one person's browser: MLflow's default of 4 workers, each importing MLflow, made the UI
               # answer after 16 s instead of 10 s on 2 cores
               "--workers", "2"]
    env = dict(os.environ)
    if not args.verbose:        # a line per request (the UI polls), and each worker's start-up and warnings
        command += ["--uvicorn-opts", "--no-access-log --log-level warning"]
        env.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"),
                                                       "ignore:starlette.middleware.wsgi is deprecated"]))
    return serve(command, env, args.verbose)
