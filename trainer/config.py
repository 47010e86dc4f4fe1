"""TrialConfig: every hyperparameter and run setting of one trial, validated.

Hyperparameter names are the project's public vocabulary (YAML specs, MLflow params): the field
names below, each with its meaning beside it. Fields left at ``None`` take the model's default from ``MODEL_DEFAULTS``
(the middle of the paper's sweeps, Table 2 and Appendix H.1).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MODELS = ("alphagan", "dcgan", "wgangp", "age")
DATASETS = ("colormnist", "cifar10", "celeba", "digits", "synthetic")
STACKED_DATASETS = ("colormnist", "digits")       # three digits as R, G, B: 1000 modes (data/stacked.py)


class ConfigError(ValueError):
    """A bad hyperparameter or setting; the message says what is wrong and how to fix it."""


PRECISIONS = ("fp32", "bf16")
PRIOR_MATCHING = ("code_discriminator", "empirical_kl")
TEXT_CHOICES = {"model": f"one of {', '.join(MODELS)}", "dataset": f"one of {', '.join(DATASETS)}",
                "precision": f"one of {', '.join(PRECISIONS)}",
                "prior_matching": f"one of {', '.join(PRIOR_MATCHING)}",
                "device": "one of auto, cpu, cuda, cuda:N, mps",
                "data_root": "a folder"}
DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")

# Per-model defaults for fields left at None.

MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "alphagan": dict(lr_generator=1e-4, lr_discriminator=5e-4, lr_code_discriminator=5e-4,
                     recon_weight_encoder=10.0, recon_weight_generator=10.0, generator_updates=2),
    "dcgan": dict(lr_generator=2e-4, lr_discriminator=2e-4, generator_updates=2),
    "wgangp": dict(lr_generator=2e-4, lr_discriminator=2e-4, generator_updates=1),
    "age": dict(lr_generator=2e-4, age_recon_weight_x=1000.0, age_recon_weight_z=10.0,
                generator_updates=2),
}

# DCGAN's discriminator dropout: Table 3's "dropout of 0.8" (a keep probability) belongs to the
# 28x28 ColorMNIST discriminator; the CIFAR-10 and CelebA networks (the WGAN-GP code's) have none.
DCGAN_DROPOUT = {"colormnist": 0.2, "digits": 0.2, "synthetic": 0.2, "cifar10": 0.0, "celeba": 0.0}

# Paper iteration counts (Appendix H): ColorMNIST 100k, CelebA and CIFAR-10 200k.
DATASET_MAX_ITER = {"colormnist": 100_000, "cifar10": 200_000, "celeba": 200_000,
                    "digits": 20_000, "synthetic": 1_000}


@dataclass
class TrialConfig:
    # --- what is trained
    model: str = "alphagan"
    dataset: str = "colormnist"
    latent_dim: int = 50
    batch_size: int = 64
    max_iter: int | None = None
    seed: int = 0
    # --- optimisation (Adam, betas (0.5, 0.9), fixed learning rate)
    lr_generator: float | None = None          # generator and encoder
    lr_discriminator: float | None = None
    lr_code_discriminator: float | None = None
    adam_beta1: float = 0.5
    adam_beta2: float = 0.9
    # --- loss weights and update schedule
    recon_weight_encoder: float | None = None   # lambda in eq 11
    recon_weight_generator: float | None = None  # lambda in eq 13
    adv_weight_generator: float = 1.0
    adv_weight_encoder: float = 1.0
    disc_real_weight: float = 1.0               # 1: eq 15 (default), 2: eq 14
    generator_updates: int | None = None        # G (and E) updates per D update
    critic_iters: int = 5                       # WGAN-GP critic updates per G update
    gp_weight: float = 10.0
    age_recon_weight_x: float | None = None     # AGE encoder L1 image reconstruction
    age_recon_weight_z: float | None = None     # AGE generator cosine code reconstruction
    dcgan_dropout: float | None = None          # DCGAN only; default: the dataset's (DCGAN_DROPOUT)
    prior_matching: str = "code_discriminator"  # alpha-GAN: or empirical_kl (Appendix D's ablation)
    # --- networks and data
    width: float = 1.0                          # channel multiplier, < 1 for small runs
    precision: str = "fp32"                     # fp32, or bf16: the step under bfloat16 autocast
    channels_last: bool = False                 # convolution weights (so activations) in NHWC layout
    data_root: str | None = None
    # --- run settings (not hyperparameters; do not change results except `device`)
    device: str = "auto"
    cuda_graphs: bool | str = "auto"            # the step as a CUDA graph (trainer/cuda_graphs.py); auto: on CUDA
    cudnn_benchmark: bool = True                # on CUDA: cuDNN times its convolution algorithms per shape
    report_every: int = 500
    checkpoint_every: int | None = None         # default: at every report
    sample_count: int = 64

    def __post_init__(self) -> None:
        self._validate_types()
        self._validate_choices()
        for key, value in MODEL_DEFAULTS[self.model].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.max_iter is None:
            self.max_iter = DATASET_MAX_ITER[self.dataset]
        if self.dcgan_dropout is None:
            self.dcgan_dropout = DCGAN_DROPOUT[self.dataset]
        if self.checkpoint_every is None:
            self.checkpoint_every = self.report_every
        self._validate_values()

    # ------------------------------------------------------------------ validation
    def _validate_types(self) -> None:
        """Every field has its declared type: text, a whole number, a finite number or true/false
        (``None`` where the field allows it: the model's default)."""
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), str(f.type)
            if value is None and kind.endswith("| None") or kind == "bool | str":   # cuda_graphs: see below
                continue
            base = kind.split(" |")[0]
            if base == "bool":
                ok, expected = isinstance(value, bool), "true or false"
            elif base == "int":
                ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
            elif base == "float":
                ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                      and math.isfinite(value))
                expected = "a finite number"
            else:
                ok, expected = isinstance(value, str), TEXT_CHOICES.get(f.name, "text")
            if not ok:
                raise ConfigError(f"{f.name}: must be {expected}, got {value!r}")

    def _validate_choices(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"model: unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision: {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.prior_matching not in PRIOR_MATCHING:
            raise ConfigError(f"prior_matching: {self.prior_matching!r} is not one of {', '.join(PRIOR_MATCHING)}")
        if self.prior_matching != "code_discriminator" and self.model != "alphagan":
            raise ConfigError(f"prior_matching: {self.prior_matching} is an alpha-GAN setting (Appendix D); "
                              f"leave it out for {self.model}")
        if self.dataset not in DATASETS:
            raise ConfigError(
                f"dataset: unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")

    def _validate_values(self) -> None:
        positive_ints = ("latent_dim", "batch_size", "max_iter", "critic_iters", "generator_updates",
                         "report_every", "checkpoint_every", "sample_count")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {value!r}")
        non_negative = ("lr_generator", "lr_discriminator", "lr_code_discriminator",
                        "recon_weight_encoder", "recon_weight_generator", "adv_weight_generator",
                        "adv_weight_encoder", "disc_real_weight", "gp_weight",
                        "age_recon_weight_x", "age_recon_weight_z", "width")
        for name in non_negative:
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name}: must be a non-negative number, got {value!r}")
        for name in ("lr_generator", "lr_discriminator", "width"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name}: must be greater than 0, got {value!r}")
        if self.checkpoint_every % self.report_every:          # checkpoints are written at reports
            every = math.lcm(self.checkpoint_every, self.report_every)
            up = -(-self.checkpoint_every // self.report_every)
            raise ConfigError(f"checkpoint_every: {self.checkpoint_every} is not a multiple of report_every "
                              f"({self.report_every}); checkpoints are written at reports, so it would checkpoint "
                              f"only every {every:,} iterations: use e.g. {up * self.report_every}")
        if self.seed < 0:
            raise ConfigError(f"seed: must be a whole number >= 0, got {self.seed!r}")
        if not 0.0 <= self.dcgan_dropout < 1.0:
            raise ConfigError(f"dcgan_dropout: must be in [0, 1), got {self.dcgan_dropout!r}")
        if not (0.0 <= self.adam_beta1 < 1.0 and 0.0 <= self.adam_beta2 < 1.0):
            raise ConfigError("adam_beta1, adam_beta2: must be in [0, 1)")
        if self.precision == "bf16" and self.model == "wgangp":
            raise ConfigError("precision: bf16 is not offered for wgangp: its gradient penalty differentiates "
                              "through the critic twice and its losses leave the fp32 ones by over 50 % within "
                              "3 steps; use precision: fp32")
        if self.batch_size < 2:
            raise ConfigError("batch_size: must be at least 2 (batch norm and the batch KL need it)")
        if not DEVICE_NAME.fullmatch(self.device):
            raise ConfigError(f"device: {self.device!r} is not {TEXT_CHOICES['device']}")
        if not isinstance(self.cudnn_benchmark, bool):
            raise ConfigError(f"cudnn_benchmark: must be true or false, got {self.cudnn_benchmark!r}")
        if not isinstance(self.cuda_graphs, bool) and self.cuda_graphs != "auto":
            raise ConfigError(f"cuda_graphs: must be true, false or auto (on where the trial runs on CUDA), "
                              f"got {self.cuda_graphs!r}")
        if self.cuda_graphs is True and self.device in ("cpu", "mps"):
            raise ConfigError(f"cuda_graphs: CUDA graphs need a CUDA device, not device: {self.device}; "
                              "set device: cuda (or auto on a GPU machine), or cuda_graphs: false")

    # ------------------------------------------------------------------ conversion
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "config") -> TrialConfig:
        """Build from a mapping, rejecting unknown keys with a did-you-mean hint."""
        names = cls.field_names()
        for key in values:
            if key not in names:
                raise ConfigError(f"{source}: unknown hyperparameter {key!r}{did_you_mean(key, names)}; "
                                  f"valid names: {', '.join(names)}")
        coerced = {key: _coerce(key, value, source) for key, value in values.items()}
        try:
            return cls(**coerced)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hyperparameters(self) -> dict[str, Any]:
        """The fields that define the trial's result (run settings left out)."""
        run_settings = {"device", "cuda_graphs", "cudnn_benchmark", "report_every", "checkpoint_every",
                        "sample_count", "data_root"}
        return {k: v for k, v in self.to_dict().items() if k not in run_settings}

    def resolved_device(self) -> str:
        return resolve_device(self.device)


def resolve_device(name: str) -> str:
    """The PyTorch device ``name`` means on this machine (``auto``: ``cuda`` where PyTorch sees a
    GPU, else ``cpu``), or a ConfigError saying what this machine lacks, before any work."""
    import torch

    if not DEVICE_NAME.fullmatch(name):
        raise ConfigError(f"device: {name!r} is not {TEXT_CHOICES['device']}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device: {name}, but PyTorch sees no CUDA GPU on this machine (no NVIDIA driver, "
                              "one too old for this PyTorch's CUDA, or CUDA_VISIBLE_DEVICES hides them); "
                              "use device cpu, or auto to take a GPU where there is one")
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            names = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise ConfigError(f"device: {name}, but this machine has {count} CUDA GPU{'s' * (count > 1)} "
                              f"({names}); use one of those, or cuda for the first")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device: mps, but this PyTorch has no MPS backend here (Apple silicon GPUs only); "
                          "use device cpu, or auto")
    return name


_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(TrialConfig)}


def did_you_mean(key: Any, names: Iterable[str]) -> str:
    """' (did you mean 'lr_generator'?)' for a misspelt name; '' where none is close."""
    close = difflib.get_close_matches(str(key), list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def whole_number(value: Any) -> Any:
    """``value`` as an int where it spells a whole number as YAML or a command line leaves it: '64',
    100000.0, or '1e5' (YAML 1.1 reads e-notation without a dot as text); a number that is not
    whole as a float (checked later), anything else unchanged."""
    if isinstance(value, str):
        try:
            value = int(value) if value.strip().lstrip("+-").isdigit() else float(value)
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _coerce(key: str, value: Any, source: str) -> Any:
    """Accept YAML/CLI spellings: '1e-4' -> float, '64' and '1e5' -> int, with a clear error otherwise."""
    kind = str(_FIELD_TYPES[key])
    if value is None:
        return None
    try:
        if kind.startswith("int") and not isinstance(value, bool):
            if isinstance(whole := whole_number(value), str):
                raise ValueError(whole)
            return whole
        if kind.startswith("float") and isinstance(value, (str, int)) and not isinstance(value, bool):
            return float(value)
    except ValueError:
        expected = "an integer" if kind.startswith("int") else "a number"
        raise ConfigError(f"{source}: {key} must be {expected}, got {value!r}") from None
    return value


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Parse ``--set key=value`` pairs; values are read as YAML scalars (1e-4, 64, true)."""
    import yaml

    result: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected key=value, e.g. --set lr_generator=1e-4")
        key, raw = pair.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else None
        result[key.strip()] = value
    return result


__all__ = ["TrialConfig", "ConfigError", "MODELS", "DATASETS", "MODEL_DEFAULTS", "parse_overrides"]
