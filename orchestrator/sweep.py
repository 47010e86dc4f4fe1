"""`orchestrate sweep`: a spec's trials on Ray Tune, tracked in MLflow. ``run_sweep`` reads as
the steps of a sweep; each step is a function below it."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from trainer.memory import in_binary_units

from . import layout, placement, tracking
from .errors import DiskFullError, ResumeRefused, SpecError, UsageError
from .local_node import runs_a_ray_node
from .local_ray import shutdown_ray
from .preflight import Checked, has_started, preflight
from .process_locks import driver_lock
from .progress import ProgressLines
from .ray_gone import RayGoneWatch
from .settings import FusedGroup, TrialSettings, trial_members
from .stop_signals import Stopping, stop_signals
from .sweep_classifier import final_classifier_state
from .sweep_spec import SweepSpec
from .sweep_state import SweepState
from .tune_state_copy import has_saved, no_fresh_start, replace_cut_short_state
from .wording import command, counted
from .writable import disk_full


@dataclass(frozen=True)
class SweepOptions:
    """The command line's choices for a sweep."""

    storage: Path
    address: str | None = None
    tracking_uri: str | None = None
    resume: bool = False
    data_root: str | None = None
    verbose: bool = False
    resume_if_started: bool = False         # resume where the sweep has started in storage, else start it


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_sweep(spec: SweepSpec, options: SweepOptions) -> int:
    with stop_signals() as stopping:
        return _run_sweep(spec, options, stopping)


def _run_sweep(spec: SweepSpec, options: SweepOptions, stopping: Stopping) -> int:
    storage = options.storage.resolve()
    if options.address and options.address != "auto":
        check_ray_head(options.address)
    if options.resume_if_started:
        options = dataclasses.replace(options, resume=has_started(spec, storage))
    checked = preflight(spec, storage, tracking_uri=options.tracking_uri, resume=options.resume,
                        data_root=options.data_root)
    quiet_libraries(options.verbose)
    if (summary := ended_before(spec, checked)) is not None:
        _log(f"sweep {spec.name}: every trial had ended; nothing to resume (Ray not started)")
        return report_outcome(spec, storage, checked.tracking_uri, summary, options)
    classifier = final_classifier_state(spec, storage, checked.data_root, resume=checked.state is not None)
    started = time.perf_counter()
    with ray_session(spec, options, checked.tracking_uri) as cluster_gpus, \
            stopping.sigterm(ray_gone := ray_gone_watch(spec, storage)):
        ray_start_s = time.perf_counter() - started
        check_gpus(spec, cluster_gpus)
        check_fits(spec, cluster_gpus, options.address)
        check_evaluation_fits(spec, options.address)
        stopping.check()                      # a Ctrl-C dropped while Ray started: before any run exists
        with driver_lock(storage, spec.name):
            if options.resume and (line := replace_cut_short_state(storage, spec.name)):
                _log(line)
            state, was = open_sweep_run(spec, storage, checked)
            ray_gone.before_exit = functools.partial(tracking.interrupt_sweep_runs, state.tracking_uri,
                                                     state.experiment_id, state.parent_run_id)
            with failed_on_error(state, was), full_storage_as_one_line(spec, storage):
                settings = trial_settings(spec, storage, state, checked.data_root, cluster_gpus)
                trainable = trainable_with_resources(spec, settings, classifier, cluster_gpus,
                                                     resumed=checked.state is not None)
                fit_started = time.perf_counter()
                results = fit(spec, storage, trainable, settings, options)
                _log(f"sweep {spec.name}: Ray started in {ray_start_s:.1f} s; trials ran "
                     f"{time.perf_counter() - fit_started:.1f} s")
                summary = record_outcome(spec, storage, state, results)
    return report_outcome(spec, storage, checked.tracking_uri, summary, options, crashed_trials(results))


def ended_before(spec: SweepSpec, checked: Checked) -> dict[str, int] | None:
    """A resumed sweep whose trials had all ended, none failed: its counts, from its parent run.
    Ray is not started for it (13 s here, for nothing: a batch job requeued after the end, the
    quickstart run again). With failed trials it resumes as ever: --resume retries them."""
    if checked.state is None:
        return None
    counts = tracking.ended_sweep_counts(checked.tracking_uri, checked.state.parent_run_id)
    if counts is None or counts[layout.FAILED] or sum(counts.values()) != spec.trial_count:
        return None
    return {**counts, "unfinished": 0}


def quiet_libraries(verbose: bool) -> None:
    """Ray's and MLflow's own start-up lines (the token notice, "Started a local Ray instance",
    "Creating initial MLflow database tables") reach the terminal only with --verbose; so do the
    tracebacks of failed trials (each progress line of a failure ends with its error's last line,
    and the whole traceback is in the trial's error.txt)."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # frequent small checkpoints are the point here; Ray warns about them otherwise
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not verbose:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")       # read when mlflow is imported
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")      # read when Ray Tune's controller starts
        logging.getLogger("ray.tune.tune").addFilter(       # the summary says it: "N failed"
            lambda record: not record.getMessage().startswith("Trials did not complete"))
        logging.getLogger("ray.tune.execution.experiment_state").addFilter(   # the trials' lines say it
            lambda record: not (record.exc_info and disk_full(record.exc_info[1])))
        logging.getLogger("ray.tune.execution.tune_controller").addFilter(
            lambda record: not stale_checkpoint_copy(record))


def stale_checkpoint_copy(record: logging.LogRecord) -> bool:
    """Ray Tune's "Error handling checkpoint" traceback for a copy of a trial's checkpoint that it
    had already deleted. A driver killed outright (SIGKILL: the OOM killer, a lost login node)
    leaves Ray Tune's experiment state as of its last periodic save, naming copies deleted since;
    on --resume Ray Tune deletes them again at the trial's next checkpoint, and logs the missing
    folder. Nothing is lost: a trial resumes from its own checkpoint (restore_checkpoint_folder),
    and Ray Tune goes on keeping the latest copies."""
    err = record.exc_info[1] if record.exc_info else None
    return (str(record.msg).startswith("Trial %s: Error handling checkpoint")
            and isinstance(err, FileNotFoundError) and "/checkpoint_" in str(err))


@contextlib.contextmanager
def ray_session(spec: SweepSpec, options: SweepOptions, tracking_uri: str):
    """Ray for the sweep; yields the cluster's GPU count. Without --address always a new local
    instance: a bare ray.init() may attach to the last cluster started on this machine
    (/tmp/ray/ray_current_cluster), even one shutting down. The tracking URI reaches the trials
    through their environment, so its password is in no config Ray Tune saves."""
    import ray

    if spec.metric:
        # the critic's metrics exist only from half of max_iter on: ASHA and Optuna act on the
        # results that carry the metric instead of failing on the earlier ones (spec.metric is
        # checked against what the trials report when the spec is read)
        os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    env = {"OMP_NUM_THREADS": str(placement.threads(spec.cpus)), tracking.TRACKING_URI_ENV: tracking_uri,
           **tracking.HTTP_ENV}
    try:
        ray.init(address=options.address or "local", include_dashboard=False, log_to_driver=False,
                 logging_level=logging.INFO if options.verbose else logging.ERROR, runtime_env={"env_vars": env})
    except (ConnectionError, RuntimeError, ValueError) as err:
        if not options.address:
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"cannot join the Ray cluster at {options.address} ({first}); --address HOST:6379 works on "
                         "a machine that is one of the cluster's Ray nodes; from any other machine submit the sweep "
                         "with --address http://HEAD:8265") from None
    try:
        yield ray.cluster_resources().get("GPU", 0.0)
    finally:
        shutdown_ray()


def ray_gone_watch(spec: SweepSpec, storage: Path) -> RayGoneWatch:
    """What ends the driver when a SIGTERM stopped the Ray processes beside it too."""
    import ray

    return RayGoneWatch(ray.get_runtime_context().gcs_address,
                        f"sweep {spec.name} interrupted, and Ray's processes with it (a SIGTERM to the whole "
                        f"process group or job: timeout, Slurm); Ray Tune's state is saved; continue with "
                        f"{resume_command(spec, storage)}")


def check_ray_head(address: str) -> None:
    """One line within seconds, not a hang, for a Ray head that does not answer."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address {address!r}: expected HOST:PORT of a Ray head (e.g. ray-head:6379) or "
                         "http://HEAD:8265 to submit the sweep as a Ray job")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise UsageError(f"cannot reach the Ray head at {address} ({err.strerror or type(err).__name__}); check the "
                         "address and that the head runs") from None
    if not runs_a_ray_node():                # ray.init would wait for a local node for minutes
        raise UsageError(f"no Ray node runs on this machine, so it cannot join the cluster at {address}; submit "
                         f"the sweep as a Ray job instead: --address http://{host}:8265")


def check_gpus(spec: SweepSpec, cluster_gpus: float) -> None:
    """Settings that need GPU trials, on a cluster whose trials get none."""
    if placement.trial_gpus(spec, cluster_gpus) > 0:
        return
    where = f"(cluster GPUs: {cluster_gpus:g}, resources.gpus: {spec.gpus})"
    if any(hp.get("cuda_graphs") is True for hp in spec.trials):
        raise SpecError(f"{spec.path}: trial.cuda_graphs: true needs GPU trials, and this sweep's trials get "
                        f"no GPU {where}; run it on GPUs or set cuda_graphs: false")
    if spec.device == "cuda":
        raise SpecError(f"{spec.path}: trial.device: cuda needs GPU trials, and this sweep's trials get no GPU "
                        f"{where}; run it on GPUs or set device: auto")


SHORT_HINTS = {"CPU": "lower resources.cpus (or independent_critic.cpus)",
               "GPU": "set resources.gpus: auto (GPU trials where there are GPUs) or lower resources.gpus (or "
                      "independent_critic.gpus)"}


def check_fits(spec: SweepSpec, cluster_gpus: float, address: str | None) -> None:
    """A trial that reserves more than any node can give waits for ever, silently: on this machine's
    own Ray that is one line before anything starts; a cluster may still grow (an autoscaler),
    so there it is a warning."""
    import ray

    needed = placement.bundles(spec, cluster_gpus)
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    short = placement.short_resources(needed, nodes)
    if not short:
        return
    have = "; ".join(sorted({f"CPU {n.get('CPU', 0):g}, GPU {n.get('GPU', 0):g}" for n in nodes})) or "no node"
    what = f"a trial reserves {needed} (its bundle, then its critic's), more {' and '.join(short)} than"
    hint = "; ".join(SHORT_HINTS[kind] for kind in short)
    if not address:
        raise SpecError(f"{spec.path}: {what} this machine has ({have}): {hint}, or run on a cluster with --address")
    _log(f"warning: {what} any node of the cluster has now ({have}): its trials wait until such a node joins "
         f"(an autoscaler adds it); otherwise stop with Ctrl-C and {hint}")


def check_evaluation_fits(spec: SweepSpec, address: str | None) -> None:
    """Each trial's final evaluation holds its samples in memory as float32 images: more than any
    node's memory would fail every trial at its end, after all its training. On this machine's own
    Ray one line before anything starts; on a cluster (a bigger node may join) a warning."""
    import ray

    from trainer.memory import in_binary_units
    from trainer.metrics.evaluate import sample_memory
    from trainer.networks import DATASET_ARCHITECTURE

    if not spec.evaluation.samples:
        return
    shapes = {DATASET_ARCHITECTURE[hp["dataset"]].image_shape for hp in spec.trials}
    need = max(sample_memory(spec.evaluation.samples, shape) for shape in shapes)
    memory = max((node["Resources"].get("memory", 0) for node in ray.nodes() if node["Alive"]), default=0)
    if need <= memory:
        return
    fits = int(spec.evaluation.samples * memory // need)
    what = (f"evaluation.samples {spec.evaluation.samples:,} need {in_binary_units(need)} of memory in each trial's "
            f"final evaluation, more than Ray gives tasks on {'this machine' if not address else 'any node'} "
            f"({in_binary_units(memory)}): set evaluation.samples to at most {fits:,}")
    if not address:
        raise SpecError(f"{spec.path}: {what}")
    _log(f"warning: {what}, or add a node with more memory")


def open_sweep_run(spec: SweepSpec, storage: Path, checked: Checked) -> tuple[SweepState, str | None]:
    """The sweep's experiment and parent run: created (and written to the state file) by a new
    sweep, read back by --resume. The storage folder exists: the driver lock made it. With the
    state, the status the parent run had before --resume reopened it (None for a new sweep)."""
    experiment_id = tracking.ensure_experiment(checked.tracking_uri, spec.name, storage)
    if checked.state is not None:
        state = checked.state
        state.tracking_uri = checked.tracking_uri
        state.experiment_id = state.experiment_id or experiment_id
        return state, tracking.reopen_sweep_run(state.tracking_uri, state.parent_run_id)
    parent = tracking.start_sweep_run(checked.tracking_uri, experiment_id, spec, spec.path.read_text(),
                                      spec.trial_count)
    state = SweepState(parent_run_id=parent, tracking_uri=checked.tracking_uri, experiment_id=experiment_id,
                       spec_sha256=checked.spec_sha256, storage=str(storage), spec=checked.spec_content)
    state.save(storage, spec.name)
    return state, None


@contextlib.contextmanager
def failed_on_error(state: SweepState, was: str | None):
    """A sweep whose driver fails: its parent run FAILED and its open trial runs interrupted (they
    resume from their checkpoints), new or resumed. A full disk leaves them RUNNING, for --resume
    once there is space; a --resume refused before any trial started leaves the parent run as it
    was, ``was``."""
    try:
        yield
    except Exception as err:
        if isinstance(err, ResumeRefused) and was is not None:
            tracking.restore_sweep_run(state.tracking_uri, state.parent_run_id, was)
        elif not isinstance(err, DiskFullError):
            tracking.interrupt_sweep_runs(state.tracking_uri, state.experiment_id, state.parent_run_id, "FAILED")
        raise


@contextlib.contextmanager
def full_storage_as_one_line(spec: SweepSpec, storage: Path):
    """The driver failing on a full disk (its own writes: Ray Tune's experiment state, a SQLite
    tracking store, the sweep's state; or Ray Tune reading back what a full disk truncated, once
    trials failed for want of space) as one line saying to free space and --resume."""
    ProgressLines.full_disk = ""
    try:
        yield
    except Exception as err:
        if disk_full(err) is None and not ProgressLines.full_disk:
            raise
        text = " ".join(str(err).split())[:200]
        free = in_binary_units(shutil.disk_usage(storage).free)
        raise DiskFullError(
            f"sweep {spec.name} stopped: the disk of its storage {storage} is full ({type(err).__name__}: {text}; "
            f"{free} free now): free space there, then {resume_command(spec, storage)} continues every trial "
            "from its last checkpoint") from None


def trial_settings(spec: SweepSpec, storage: Path, state: SweepState, data_root: str | None,
                   cluster_gpus: float) -> TrialSettings:
    return TrialSettings(
        tracking_uri=layout.redact_uri(state.tracking_uri), experiment_id=state.experiment_id,
        parent_run_id=state.parent_run_id, experiment_dir=str(storage / spec.name), data_root=data_root,
        device=spec.device, threads=placement.threads(spec.cpus),
        independent_critic=placement.independent_critic(spec, cluster_gpus), evaluation=spec.evaluation)


def trainable_with_resources(spec: SweepSpec, settings: TrialSettings, classifier: dict | None,
                             cluster_gpus: float, resumed: bool = False):
    from ray import tune

    from .trial_runner import run_trial

    pgf = placement.placement_group_factory(spec, cluster_gpus)
    models = len(spec.tune_trials)
    fused = f" fused into {models} models" if spec.fuse_trials > 1 else ""
    on = "GPUs" if placement.trial_gpus(spec, cluster_gpus) else "CPUs"
    trials = counted(spec.trial_count, "trial")
    _log(f"sweep {spec.name}{' (resumed)' * resumed}: {trials}{fused} on {on} ({pgf.bundles}), storage "
         f"{settings.experiment_dir}, tracking {settings.tracking_uri}")
    return tune.with_resources(tune.with_parameters(run_trial, classifier_state=classifier), pgf)


def fit(spec: SweepSpec, storage: Path, trainable, settings: TrialSettings, options: SweepOptions):
    """Run the trials. Ray Tune's own console output (its configuration box, the TensorBoard hint)
    is shown only with --verbose; the sweep's progress lines go to stderr either way."""
    from .tune_setup import build_tuner

    ProgressLines.completed = set()
    tuner = build_tuner(spec, storage, trainable, settings, options.resume, options.verbose)
    saved = options.resume and has_saved(storage, spec.name)
    with no_fresh_start(storage / spec.name) if saved else contextlib.nullcontext():
        if options.verbose:
            return tuner.fit()
        with contextlib.redirect_stdout(io.StringIO()):
            return tuner.fit()


def record_outcome(spec: SweepSpec, storage: Path, state: SweepState, results) -> dict[str, int]:
    """Count the trials' endings; with none unfinished, close the sweep's runs, else mark them
    interrupted. ``unfinished``: trials interrupted (Ctrl-C) or never started."""
    completed = set(state.completed_trials) | ProgressLines.completed
    state.completed_trials = sorted(completed)
    state.save(storage, spec.name)
    summary = summarize(results, completed)
    summary["unfinished"] = spec.trial_count - sum(summary.values())
    if not summary["unfinished"]:
        close_open_runs(state, results)
        tracking.finish_sweep_run(state.tracking_uri, state.parent_run_id,
                                  {k: v for k, v in summary.items() if k != "unfinished"})
    else:
        tracking.interrupt_sweep_runs(state.tracking_uri, state.experiment_id, state.parent_run_id)
    return summary


def resume_command(spec: SweepSpec, storage: Path) -> str:
    """The command that continues the sweep, quoted to be pasted into a shell."""
    return command("sweep", spec.path, "--resume", "--storage", storage)


def report_outcome(spec: SweepSpec, storage: Path, uri: str, summary: dict[str, int],
                   options: SweepOptions, crashed: int = 0) -> int:
    """The sweep's last lines; ``crashed``: trials that failed after every retry."""
    if summary["unfinished"]:
        _log(f"sweep {spec.name} interrupted: {summary['unfinished']} of {spec.trial_count} trials unfinished; "
             f"continue with {resume_command(spec, storage)}")
        return 130
    _log(f"sweep {spec.name}: {summary['finished']} finished, {summary['diverged']} diverged, "
         f"{summary['stopped']} stopped early, {summary['failed']} failed")
    experiment = storage / spec.name
    if crashed:
        _log(f"{counted(crashed, 'trial')} failed after every retry (tracebacks in {experiment}/trial_*/"
             f"{layout.RAY_ERROR_FILE}); once the cause is fixed, {resume_command(spec, storage)} retries them "
             "from their last checkpoints")
    print(f"results: MLflow experiment '{spec.name}' at {layout.redact_uri(uri)}; Ray Tune files in {experiment}")
    fused = "*/" if spec.fuse_trials > 1 else ""
    work = f"trial_*/{layout.WORK}/{fused}{layout.SAMPLES}"
    print(f"sample grids: {experiment}/{work}/ (and as MLflow artifacts)")
    print(f"see them: {command('ui', '--storage', storage)}" if options.tracking_uri is None else
          f"see them: open {layout.redact_uri(uri)} in a browser")
    print("judge the sweep (quartiles, box plots, best samples): "
          + command("analyze", spec.path, "--storage", storage))
    return 0 if summary["failed"] == 0 else 1


def crashed_trials(results) -> int:
    """Trials whose Ray Tune trial failed after every retry (--resume retries them again)."""
    return sum(len(trial_members(result.config["hp"])) if result.config else 1
               for result in results if result.error is not None)


def summarize(results, completed: set) -> dict[str, int]:
    """finished / diverged: the trial's final report says so; failed: an error after every retry;
    stopped: completed by Ray (the scheduler, ASHA) before its final report. Trials in none of
    these were interrupted."""
    summary = {**dict.fromkeys(layout.SWEEP_ENDINGS, 0), layout.FAILED: crashed_trials(results)}
    for result in results:
        if result.error is not None:
            continue
        metrics = result.metrics or {}
        status = metrics.get(layout.STATUS_TAG)
        if isinstance(result.config.get("hp") if result.config else None, FusedGroup):   # several fused trials
            if status != layout.INTERRUPTED and metrics.get(layout.FUSED_STATUSES):
                for each in metrics[layout.FUSED_STATUSES].split(","):
                    if each in ("finished", "diverged", layout.FAILED):
                        summary[each] += 1
            continue
        if status in ("finished", "diverged", layout.FAILED):       # failed: an error no retry fixes
            summary[status] += 1
        elif metrics.get("trial_id") in completed:
            summary["stopped"] += 1
    return summary


def close_open_runs(state: SweepState, results) -> None:
    """Child runs left open by trials that failed for good (closed as failed) or that the
    scheduler stopped early (closed as stopped), and those marked interrupted that no trial
    reopened: the scheduler had stopped them before the interruption."""
    from mlflow.tracking import MlflowClient

    failed = {result.metrics.get("trial_id") for result in results if result.error is not None and result.metrics}
    reached = {result.metrics.get("trial_id"): result.metrics.get(layout.ITERATION) for result in results
               if result.metrics}
    client = MlflowClient(tracking_uri=state.tracking_uri)
    for run in tracking.trial_runs(client, state.experiment_id, state.parent_run_id):
        if run.info.status != "RUNNING" and run.data.tags.get(layout.STATUS_TAG) != layout.INTERRUPTED:
            continue
        ray_trial = run.data.params.get(layout.RAY_TRIAL_PARAM)
        status = layout.FAILED if ray_trial in failed else layout.STOPPED
        client.set_tag(run.info.run_id, layout.STATUS_TAG, status)
        if status == layout.STOPPED and reached.get(ray_trial) is not None:
            client.set_tag(run.info.run_id, layout.STOPPED_AT_TAG, str(int(reached[ray_trial])))
        client.set_terminated(run.info.run_id, tracking.run_status(status))
