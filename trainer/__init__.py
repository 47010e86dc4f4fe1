"""α-GAN and its baselines (DCGAN, WGAN-GP, AGE) in PyTorch, on the paper's networks and data.

Public API (docs/trainer.md)::

    from trainer import TrialConfig, build_algorithm, train

    cfg = TrialConfig(model="alphagan", dataset="digits", max_iter=1000)
    algo = build_algorithm(cfg)          # algo.nets, algo.losses(x, z), algo.step(x)
    result = train(cfg, report=print, checkpoint_dir="runs/example")

The trainer never imports Ray or MLflow: a trial reports through a callback.
"""

from .config import ConfigError, TrialConfig
from .data import DatasetError, ImageDataset, load_dataset
from .loop import DIVERGED, FINISHED, INTERRUPTED, Report, TrialResult, train
from .models import Algorithm, build_algorithm

__all__ = ["TrialConfig", "ConfigError", "build_algorithm", "Algorithm", "train", "Report",
           "TrialResult", "FINISHED", "DIVERGED", "INTERRUPTED", "load_dataset", "ImageDataset",
           "DatasetError"]
