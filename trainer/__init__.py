"""α-GAN and its baselines (DCGAN, WGAN-GP, AGE) in PyTorch, on the paper's networks and data.

Public API (docs/trainer.md)::

    from trainer import TrialConfig, build_algorithm, train

    cfg = TrialConfig(model="alphagan", dataset="digits", max_iter=1000)
    algo = build_algorithm(cfg)          # algo.nets, algo.losses(x, z), algo.step(x)
    result = train(cfg, report=print, checkpoint_dir="runs/example")

The trainer never imports Ray or MLflow: a trial reports through a callback.
"""

from .config import ConfigError, TrialConfig
from .errors import DatasetError
from .lazy_exports import lazy_exports
from .outcomes import DIVERGED, FINISHED, INTERRUPTED

# torch is imported with the first of these names a program uses (trainer/lazy_exports.py)
__getattr__ = lazy_exports(__name__, {
    ".data": ("ImageDataset", "load_dataset"),
    ".loop": ("Report", "TrialResult", "train"),
    ".models": ("Algorithm", "build_algorithm"),
})

__all__ = ["TrialConfig", "ConfigError", "build_algorithm", "Algorithm", "train", "Report",
           "TrialResult", "FINISHED", "DIVERGED", "INTERRUPTED", "load_dataset", "ImageDataset",
           "DatasetError"]
