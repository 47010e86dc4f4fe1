"""Sweep specs: the YAML files of search_spaces/, validated, and expanded into trials.

    name: celeba_alphagan           # also the MLflow experiment and the Ray Tune run name
    description: ...
    trial: {model: alphagan, ...}   # hyperparameters every trial shares
    grid: {lr_generator: [1e-4, 5e-4], ...}   # every combination is one trial
    seeds: [0, 1]                   # repeats over seeds (or seed in the grid; default: the trial's seed)
    search: grid                    # or optuna: TPE over the grid's values, num_samples trials
                                    # (a repeated sample trains with the next seed; no seeds list)
    num_samples: 20                 # optuna only
    scheduler: none                 # or asha (needs metric and mode)
    metric: critic_neg_w_test       # what optuna / asha optimise
    mode: max
    resources: {cpus: 1, gpus: auto, trials_per_gpu: 4, fuse_trials: 1}
                                    # fuse_trials: N trials of one architecture as one fused model
    independent_critic: {enabled: true, steps_per_report: 100, cpus: 1, gpus: auto, width: 1.0}
                                    # (also read as ``critic:``, its earlier name)
    evaluation: {samples: 10000, diversity_pairs: 5000, codes: 2000}   # at the end of each trial
    max_failures: 3                 # retries of a failed trial from its last checkpoint
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from trainer.config import ConfigError, TrialConfig, did_you_mean, whole_number

from . import layout
from .errors import SpecError
from .settings import EvaluationSettings, FusedGroup, IndependentCriticSettings
from .spec_yaml import read_yaml

CRITIC_SECTION, OLD_CRITIC_SECTION = "independent_critic", "critic"
NAME_BYTES = 100                    # a sweep's name, in UTF-8 bytes
TOP_LEVEL = {"name", "description", "trial", "grid", "seeds", "search", "num_samples", "scheduler",
             "metric", "mode", "resources", CRITIC_SECTION, OLD_CRITIC_SECTION, "evaluation", "max_failures"}
RESOURCE_KEYS = {"cpus", "gpus", "trials_per_gpu", "fuse_trials"}
RUNTIME_SETTINGS = ("device", "data_root")
CRITIC_KEYS = {f.name for f in dataclasses.fields(IndependentCriticSettings)}
EVALUATION_KEYS = {f.name for f in dataclasses.fields(EvaluationSettings)}


@dataclass
class SweepSpec:
    path: Path
    name: str
    description: str = ""
    trial: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    seeds: list[int] | None = None
    search: str = "grid"
    num_samples: int = 1
    scheduler: str = "none"
    metric: str | None = None
    mode: str = "max"
    cpus: float = 1.0
    gpus: float | str = "auto"
    trials_per_gpu: int = 4
    fuse_trials: int = 1                # trials per fused model (trainer.fused); 1: unfused
    independent_critic: IndependentCriticSettings = field(default_factory=IndependentCriticSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    max_failures: int = 3
    data_root: str | None = None        # trial.data_root: where the datasets are (--data-root wins)
    device: str = "auto"                # trial.device: auto (GPU trials on GPUs), cpu or cuda

    # ------------------------------------------------------------------ expansion (once)
    @cached_property
    def trials(self) -> tuple[dict[str, Any], ...]:
        """Every trial's full hyperparameters (grid search: the product of the grid and seeds)."""
        keys = list(self.grid)
        seeds = self.seeds if self.seeds is not None else [None]    # None: the trial's or the grid's
        result = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            for seed in seeds:
                hp = {**self.trial, **dict(zip(keys, values, strict=True))}
                if seed is not None:
                    hp["seed"] = seed
                full = TrialConfig.from_dict(hp, source=str(self.path)).to_dict()
                for run_setting in RUNTIME_SETTINGS:          # chosen by the sweep at run time
                    full.pop(run_setting)
                result.append(full)
        return tuple(result)

    @cached_property
    def tune_trials(self) -> tuple[dict[str, Any] | FusedGroup, ...]:
        """What each Ray Tune trial trains: one trial's hyperparameters, or with ``fuse_trials``
        > 1 a :class:`FusedGroup` of up to that many trials that share an architecture."""
        if self.fuse_trials == 1:
            return self.trials
        from trainer.fused import PER_TRIAL

        groups: dict[tuple, list[dict[str, Any]]] = {}
        for hp in self.trials:
            key = tuple(sorted((k, repr(v)) for k, v in hp.items() if k not in PER_TRIAL))
            groups.setdefault(key, []).append(hp)
        return tuple(FusedGroup(tuple(members[i:i + self.fuse_trials]))
                     for members in groups.values() for i in range(0, len(members), self.fuse_trials))

    @property
    def trial_count(self) -> int:
        """Trials the sweep runs: the grid's, or Optuna's samples."""
        return self.num_samples if self.search == "optuna" else len(self.trials)

    @property
    def max_iter(self) -> int:
        return max(hp["max_iter"] for hp in self.trials)

    @property
    def total_iterations(self) -> int:
        """Iterations of all trials together (Optuna: its samples at the longest max_iter)."""
        if self.search == "optuna":
            return self.num_samples * self.max_iter
        return sum(hp["max_iter"] for hp in self.trials)


def _fail(path, message: str):
    raise SpecError(f"{path}: {message}")


def _mapping(path, content, key, allowed=None) -> dict:
    value = content.get(key) or {}
    if not isinstance(value, dict):
        _fail(path, f"field '{key}' must be a mapping")
    if allowed is not None:
        for sub in value:
            if sub not in allowed:
                _fail(path, f"unknown field {f'{key}.{sub}'!r}{did_you_mean(sub, allowed)}; {key} takes "
                            f"{', '.join(sorted(allowed))}")
    return value


def _number(path, name, value, minimum=0.0, allow_auto=False):
    if allow_auto and value == "auto":
        return value
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value < minimum):
        _fail(path, f"field '{name}' must be a number >= {minimum}" + (" or 'auto'" if allow_auto else "")
              + f", got {value!r}")
    return value


def load_sweep_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    content = read_yaml(path)
    for key in content:
        if key not in TOP_LEVEL:
            _fail(path, f"unknown field {key!r}{did_you_mean(key, TOP_LEVEL)}; a sweep spec has "
                        f"{', '.join(sorted(TOP_LEVEL))}")
    name = content.get("name") or path.stem
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        _fail(path, f"field 'name' must be letters, digits, '-' and '_', got {name!r}" if content.get("name") else
              f"the spec has no field 'name' and its file's name {name!r} cannot stand for it (letters, "
              "digits, '-' and '_'): add a line 'name: ...'")
    if len(name.encode()) > NAME_BYTES:     # it names folders and files (<name>.driver.lock): 255 bytes at most
        _fail(path, f"field 'name' is {len(name.encode())} bytes long ({name[:16]}...); it names the sweep's "
                    f"folder and files, so keep it to {NAME_BYTES}")
    max_failures = _whole(path, "max_failures", content.get("max_failures", 3), 0)
    spec = SweepSpec(path=path, name=name, description=str(content.get("description", "")),
                     **_trials_section(path, content), **_search_section(path, content),
                     **_resources_section(path, content), independent_critic=_critic_section(path, content),
                     evaluation=_evaluation_section(path, content), max_failures=max_failures)
    if spec.search == "optuna" and (spec.seeds is not None or "seed" in spec.grid):
        field_, why = (("seeds", "Optuna repeats no trial over a seed list") if spec.seeds is not None
                       else ("grid.seed", "TPE would tune the seed like a hyperparameter"))
        _fail(path, f"field {field_!r} does not go with search: optuna ({why}): Optuna samples num_samples "
                    "trials, and one that repeats an earlier sample trains with the next seed after "
                    "trial.seed; remove it, or repeat every grid trial over seeds with search: grid")
    try:
        _ = spec.trials                              # every trial must be a valid TrialConfig
    except ConfigError as err:
        raise SpecError(str(err)) from None
    _check_no_repeats(spec)
    if spec.fuse_trials > 1:
        _check_fusable(spec)
    if spec.metric:
        _check_metric(spec)
    return spec


def _check_no_repeats(spec: SweepSpec) -> None:
    """A value given twice (``seeds: [0, 0]``, ``lr_generator: [1e-4, 0.0001]``) would train the same
    trial twice, bit for bit, and count it twice in the sweep's quartiles."""
    first = {key: values[0] for key, values in spec.grid.items()}
    lists = {f"grid.{key}": [TrialConfig.from_dict({**spec.trial, **first, key: value}).to_dict()[key]
                             for value in values] for key, values in spec.grid.items()}
    lists["seeds"] = list(spec.seeds or [])
    for field_, values in lists.items():
        repeated = [value for i, value in enumerate(values) if value in values[:i]]
        if repeated:
            _fail(spec.path, f"field {field_!r} gives {repeated[0]!r} twice, which would train the same trial "
                             "twice; list each value once (repeat trials over seeds with seeds: [0, 1, 2])")


def reported_metrics(spec: SweepSpec) -> tuple[list[str], list[str]]:
    """(what every trial reports while it trains, what only its final evaluation reports)."""
    from trainer.models import ALGORITHMS

    during: list[str] = []
    for model in dict.fromkeys(hp["model"] for hp in spec.trials):
        during += [key for key in ALGORITHMS[model].reported if key not in during]
    during += list(layout.PERF_KEYS)
    if spec.independent_critic.enabled:
        during += list(layout.CRITIC_KEYS)
    final = list(layout.EVALUATION_KEYS) if spec.evaluation.samples else []
    return during, final


def _check_metric(spec: SweepSpec) -> None:
    """The metric Optuna or ASHA acts on must be one the trials report (ASHA: while they train),
    listed under the MLflow names the UI shows (a loss's key alone, 'generator', read as nothing)."""
    during, final = reported_metrics(spec)
    allowed = during if spec.scheduler == "asha" else during + final
    if spec.metric not in allowed:
        what = "scheduler: asha needs a metric reported while trials train" if spec.scheduler == "asha" else (
            "search: optuna needs a metric the trials report")
        names = {key: layout.reported_name(key) for key in allowed}
        hint = did_you_mean(spec.metric, [*names, *names.values()])
        _fail(spec.path, f"field 'metric': {spec.metric!r} is not reported by these trials{hint}; {what}: "
                         f"{', '.join(names.values())}")
    from analysis.metrics import BY_NAME

    better = BY_NAME[spec.metric].better if spec.metric in BY_NAME else None
    if better in ("min", "max") and spec.mode != better:
        lower_or_higher = "lower" if better == "min" else "higher"
        _fail(spec.path, f"field 'mode': {spec.mode} would favour the worst trials: {spec.metric} is better "
                         f"{lower_or_higher}; set mode: {better}")


def _trials_section(path, content) -> dict[str, Any]:
    trial = _mapping(path, content, "trial")
    grid = _mapping(path, content, "grid")
    fields = set(TrialConfig.field_names())
    for key, values in grid.items():
        if key not in fields:
            _fail(path, f"grid: unknown hyperparameter {key!r}{did_you_mean(key, fields)}")
        if not isinstance(values, list) or not values:
            _fail(path, f"field {f'grid.{key}'!r} must be a non-empty list of values")
        if key in trial:
            _fail(path, f"'{key}' is both in 'trial' and in 'grid'; keep one")
    seeds = content.get("seeds")
    if seeds is not None and (not isinstance(seeds, list) or not seeds
                              or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        _fail(path, f"field 'seeds' must be a non-empty list of integers, got {seeds!r}")
    if seeds is not None and "seed" in grid:
        _fail(path, "'seeds' and 'grid.seed' both set the trials' seeds; keep one")
    if seeds is not None and "seed" in trial:
        _fail(path, "'seeds' and 'trial.seed' both set the trials' seeds; keep one")
    device = trial.get("device", "auto")
    if device not in ("auto", "cpu", "cuda"):
        _fail(path, f"field 'trial.device' must be auto, cpu or cuda in a sweep (Ray gives each trial its "
                    f"GPU), got {device!r}")
    data_root = trial.get("data_root")
    if data_root is not None and not isinstance(data_root, str):
        _fail(path, f"field 'trial.data_root' must be a folder, got {data_root!r}")
    return {"trial": trial, "grid": grid, "seeds": seeds, "device": device, "data_root": data_root}


def _search_section(path, content) -> dict[str, Any]:
    search = content.get("search", "grid")
    if search not in ("grid", "optuna"):
        _fail(path, f"field 'search' must be grid or optuna, got {search!r}")
    scheduler = content.get("scheduler", "none") or "none"
    if scheduler not in ("none", "asha"):
        _fail(path, f"field 'scheduler' must be none or asha, got {scheduler!r}")
    metric, mode = content.get("metric"), content.get("mode", "max")
    if (search == "optuna" or scheduler == "asha") and not metric:
        _fail(path, "field 'metric' is needed by search: optuna and scheduler: asha "
                    "(e.g. metric: critic_neg_w_test, mode: max)")
    if mode not in ("min", "max"):
        _fail(path, f"field 'mode' must be min or max, got {mode!r}")
    num_samples = _whole(path, "num_samples", content.get("num_samples", 1), 1)
    if search == "grid" and "num_samples" in content:     # Ray Tune's would repeat the grid; this one did not
        _fail(path, "field 'num_samples' is for search: optuna; search: grid runs every combination of the "
                    "grid once: remove it, or repeat the grid over seeds with seeds: [0, 1, 2]")
    return {"search": search, "scheduler": scheduler, "metric": layout.metric_key(metric) if metric else None,
            "mode": mode, "num_samples": num_samples}


def _resources_section(path, content) -> dict[str, Any]:
    resources = _mapping(path, content, "resources", RESOURCE_KEYS)
    return {"cpus": _number(path, "resources.cpus", resources.get("cpus", 1.0), 0.01),
            "gpus": _number(path, "resources.gpus", resources.get("gpus", "auto"), 0.0, allow_auto=True),
            "trials_per_gpu": _whole(path, "resources.trials_per_gpu", resources.get("trials_per_gpu", 4), 1),
            "fuse_trials": _whole(path, "resources.fuse_trials", resources.get("fuse_trials", 1), 1)}


def _evaluation_section(path, content) -> EvaluationSettings:
    defaults = EvaluationSettings()
    values = _mapping(path, content, "evaluation", EVALUATION_KEYS)
    evaluation = EvaluationSettings(**{
        key: _whole(path, f"evaluation.{key}", values.get(key, getattr(defaults, key)), 0)
        for key in EVALUATION_KEYS})
    if evaluation.samples == 1:
        _fail(path, "field 'evaluation.samples' must be 0 (no final evaluation) or at least 2")
    if evaluation.samples and not evaluation.diversity_pairs:     # every trial's evaluation would divide by 0
        _fail(path, "field 'evaluation.diversity_pairs' must be at least 1 (sample diversity averages MS-SSIM "
                    "over that many pairs), got 0")
    return evaluation


def _critic_section(path, content) -> IndependentCriticSettings:
    if CRITIC_SECTION in content and OLD_CRITIC_SECTION in content:
        _fail(path, f"fields '{CRITIC_SECTION}' and '{OLD_CRITIC_SECTION}' (its earlier name) are both "
                    f"given; keep '{CRITIC_SECTION}'")
    key = OLD_CRITIC_SECTION if OLD_CRITIC_SECTION in content else CRITIC_SECTION
    critic = _mapping(path, content, key, CRITIC_KEYS)
    enabled = critic.get("enabled", True)
    if not isinstance(enabled, bool):
        _fail(path, f"field '{key}.enabled' must be true or false, got {enabled!r}")
    width = critic.get("width")
    if width is not None:
        width = _number(path, f"{key}.width", width, 0.01)
    return IndependentCriticSettings(
        enabled=enabled, width=width,
        steps_per_report=_whole(path, f"{key}.steps_per_report", critic.get("steps_per_report", 100), 1),
        cpus=_number(path, f"{key}.cpus", critic.get("cpus", 1.0), 0.01),
        gpus=_number(path, f"{key}.gpus", critic.get("gpus", "auto"), 0.0, allow_auto=True))


def _whole(path, name, value, minimum: int) -> int:
    value = whole_number(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"a whole number >= {minimum}"
        _fail(path, f"field '{name}' must be {what}, got {value!r}")
    return value


def _check_fusable(spec: SweepSpec) -> None:
    from trainer.fused import FUSABLE_MODELS, UNFUSED_ONLY_CHANNELS_LAST

    if spec.search != "grid" or spec.scheduler != "none":
        _fail(spec.path, "resources.fuse_trials > 1 needs search: grid and scheduler: none (Optuna and "
                         "ASHA act on single trials); set fuse_trials: 1 to use them")
    models = sorted({hp["model"] for hp in spec.trials} - set(FUSABLE_MODELS))
    if models:
        _fail(spec.path, f"resources.fuse_trials > 1: fused training supports {', '.join(FUSABLE_MODELS)}, "
                         f"not {', '.join(models)}; set fuse_trials: 1")
    if any(hp.get("channels_last") for hp in spec.trials):
        _fail(spec.path, f"resources.fuse_trials > 1: {UNFUSED_ONLY_CHANNELS_LAST}; set fuse_trials: 1 or "
                         "channels_last: false")
