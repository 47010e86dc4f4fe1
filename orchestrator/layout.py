"""Every name a sweep writes, in one place: where its records live on disk, and the MLflow tags,
params and metric names of its runs. Read by the sweep, the trial runner, ``analyze`` (which hands
this module to ``analysis`` as its record names) and ``evaluate``.

On disk, under the sweep's ``--storage`` folder::

    mlflow.db                       the default SQLite tracking store (+ mlartifacts/)
    <name>.sweep.json               the sweep's state (sweep_state.SweepState)
    <name>.driver.lock              held (flock) by the one driver running the sweep; who holds it
    <name>.tune-state.zip           the last complete save of Ray Tune's experiment state (tune_state_copy)
    <name>/                         Ray Tune's experiment folder
        trial_<id>/work/            one Ray Tune trial's own folder
            checkpoint/             its checkpoints (fused: checkpoints/<k>/, work/<k>/ per trial)
            samples/                sample and reconstruction grids
            latent/                 codes of test images from the final evaluation
            mlflow_run.json         its MLflow run id, written before the first checkpoint
        unreadable-state-<time>/    Ray Tune's state files that --resume found cut short, moved aside

MLflow metric names carry a section, so the UI groups them: ``loss/<loss>`` (the training losses
of Algorithm 1), ``critic/neg_w_val`` and ``critic/neg_w_test`` (the independent critic),
``eval/<metric>`` (the final evaluation), ``perf/iterations_per_second``, and on the sweep's own
run ``trials/<status>``. Ray Tune sees the unsectioned keys (``critic_neg_w_test``), which are also
what ``analysis`` works with; :func:`metric_key` maps a name back to its key, old unsectioned
names included.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# ------------------------------------------------------------------ on disk
DEFAULT_DB = "mlflow.db"
SQLITE = "sqlite:///"                           # a SQLite tracking URI: this, then the file's path
ARTIFACTS = "mlartifacts"
STATE_SUFFIX = ".sweep.json"
DRIVER_LOCK_SUFFIX = ".driver.lock"
ASHA_STATE_SUFFIX = ".asha.pkl"                 # the ASHA scheduler's rungs, for --resume
TUNE_STATE_COPY_SUFFIX = ".tune-state.zip"      # Ray Tune's experiment state as last saved whole, for --resume
UNREADABLE_STATE = "unreadable-state-"          # + a time: Ray Tune's files that --resume could not read back
CLASSIFIER_SUFFIX = ".classifier.pt"            # the in-domain classifier a sweep's final evaluation reads
TRIAL_LOCK = "trial.lock"                       # in `orchestrate trial`'s --out, held while it trains
WORK = "work"
CHECKPOINT = "checkpoint"
FUSED_CHECKPOINTS = "checkpoints"
SAMPLES = "samples"
LATENT = "latent"
RUN_FILE = "mlflow_run.json"
ANALYSIS = "analysis"                           # artifact folder of the report in the sweep's run
DEFAULT_STORAGE = "runs/sweeps"


def state_path(storage: Path, name: str) -> Path:
    return storage / f"{name}{STATE_SUFFIX}"


def driver_lock_path(storage: Path, name: str) -> Path:
    return storage / f"{name}{DRIVER_LOCK_SUFFIX}"


def asha_state_path(storage: Path, name: str) -> Path:
    return storage / f"{name}{ASHA_STATE_SUFFIX}"


def tune_state_copy_path(storage: Path, name: str) -> Path:
    return storage / f"{name}{TUNE_STATE_COPY_SUFFIX}"


def classifier_copy_path(storage: Path, name: str) -> Path:
    return storage / f"{name}{CLASSIFIER_SUFFIX}"


def default_tracking_uri(storage: Path) -> str:
    return f"{SQLITE}{(storage / DEFAULT_DB).resolve()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite tracking URI (None for any other store)."""
    return Path(uri.removeprefix(SQLITE)) if uri.startswith(SQLITE) else None


def redact_uri(uri: str) -> str:
    """A tracking URI as a sweep writes it down (state file, Ray Tune's configs, reports): any
    password in it replaced by ``***``. The real one comes from the command line or
    ``MLFLOW_TRACKING_URI``."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def trial_folder_name(trial_id: str) -> str:
    """A Ray Tune trial's folder in the experiment folder (Ray Tune's files and the trial's work)."""
    return f"trial_{trial_id}"


def trial_work_dir(experiment_dir: Path, trial_id: str) -> Path:
    return experiment_dir / trial_folder_name(trial_id) / WORK


def reference_metrics_path(dataset: str) -> Path:
    """Where ``orchestrate evaluate --reference`` writes a dataset's own metrics by default."""
    return Path("runs") / f"reference-{dataset}" / "metrics.json"


# ------------------------------------------------------------------ MLflow tags and params
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"    # the MLflow UI opens such an experiment on its runs
KIND_TAG = "kind"
SWEEP_KIND = "sweep"
TRIAL_KIND = "trial"
PARENT_TAG = "mlflow.parentRunId"
STATUS_TAG = "trial_status"
MESSAGE_TAG = "trial_message"
CRITIC_FAILURE_TAG = "critic_failure"           # the independent critic failed; the trial went on
ERROR_FILE = "error.txt"                        # artifact of a trial that failed for good
RAY_ERROR_FILE = "error.txt"                    # Ray Tune's: a trial's tracebacks, in its trial_<id>/ folder
RAY_CHECKPOINTS_KEPT = 2                        # Ray Tune's copies of a trial's latest checkpoints, kept there
RUNNING = "running"                             # a trial run's status while it trains (again, once resumed)
INTERRUPTED = "interrupted"                     # stopped with its sweep (Ctrl-C, SIGTERM), for --resume
FAILED = "failed"
STOPPED = "stopped"                             # ended early by the scheduler (ASHA)
STOPPED_AT_TAG = "stopped_at_iteration"
GIT_COMMIT_TAG = "git_commit"
NODE_TAG = "ray_node_id"
NODES_TAG = "ray_nodes"
FUSED_INDEX_TAG = "fused_index"
FUSED_TRIALS_TAG = "fused_trials"
RAY_TRIAL_PARAM = "ray_trial_id"
SWEEP_TRIALS_PARAM = "trials"                   # of a sweep's parent run: its trial count
SWEEP_RUN_FILTER = f"tags.{KIND_TAG} = '{SWEEP_KIND}'"
RUNS_SEARCHED = 50_000                          # a search for a sweep's runs: MLflow's most per search


# Ray Tune result keys a trial reports besides its metrics
ITERATION = "iteration"                         # also ASHA's time attribute
FUSED_STATUSES = "fused_statuses"               # a fused model's trials' statuses, comma-separated
TRIAL_ERROR = "trial_error"                     # the message of a trial that failed for good


def children_filter(parent_run_id: str) -> str:
    return f"tags.{PARENT_TAG} = '{parent_run_id}'"


# ------------------------------------------------------------------ metric names
LOSS = "loss"
CRITIC = "critic"
EVAL = "eval"
PERF = "perf"
TRIALS = "trials"
# how a sweep's trials ended: counted in its last line and in its parent run's trials/<ending> metrics
SWEEP_ENDINGS = ("finished", "diverged", STOPPED, FAILED)
CRITIC_PREFIX = "critic_"                       # Ray Tune keys of the independent critic
CRITIC_KEYS = ("critic_neg_w_test", "critic_neg_w_val", "critic_steps")
# Ray Tune key beside the critic's figures in a report: the iteration of the generator snapshot they
# are of (the critic works beside the trial, so a report carries the previous report's snapshot)
CRITIC_SNAPSHOT = "critic_snapshot"
PERF_KEYS = ("iterations_per_second",)
# the final evaluation's metrics (trainer.metrics.evaluate_images; inception_* with Inception-v3)
EVALUATION_KEYS = ("sample_diversity", "inception_score", "inception_score_std", "fid", "modes", "mode_kl")


def loss_metric(key: str) -> str:
    return f"{LOSS}/{key}"


def critic_metric(key: str) -> str:
    """``critic_neg_w_test`` -> ``critic/neg_w_test``."""
    return f"{CRITIC}/{key.removeprefix(CRITIC_PREFIX)}"


def eval_metric(key: str) -> str:
    return f"{EVAL}/{key}"


def trials_metric(status: str) -> str:
    return f"{TRIALS}/{status}"


def training_metric(key: str) -> str:
    """The MLflow name of a value the training loop reports: a loss, or its speed."""
    return f"{PERF}/{key}" if key in PERF_KEYS else loss_metric(key)


def reported_name(key: str) -> str:
    """The MLflow name of a key a trial reports (``metric_key``'s inverse): a loss or its speed,
    the critic's, or the final evaluation's."""
    if key.startswith(CRITIC_PREFIX):
        return critic_metric(key)
    return eval_metric(key) if key in EVALUATION_KEYS else training_metric(key)


def metric_key(name: str) -> str:
    """The key of an MLflow metric name: ``critic/neg_w_test`` -> ``critic_neg_w_test``,
    ``loss/generator`` -> ``generator``; a name without a section (sweeps recorded before metric
    names had sections) is its own key."""
    section, slash, rest = name.partition("/")
    if not slash:
        return name
    return CRITIC_PREFIX + rest if section == CRITIC else rest


def metric_names(key: str) -> tuple[str, ...]:
    """The MLflow names a metric ``key`` may be stored under: the sectioned name of each section
    it can belong to, then the old unsectioned one."""
    if key.startswith(CRITIC_PREFIX):
        return critic_metric(key), key
    if key in PERF_KEYS:
        return f"{PERF}/{key}", key
    return eval_metric(key), loss_metric(key), key
