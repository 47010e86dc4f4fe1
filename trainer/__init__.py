"""α-GAN and its baselines (DCGAN, WGAN-GP, AGE) in PyTorch, on the paper's networks and data.

Public API (see DESIGN.md)::

    from trainer import TrialConfig, build_algorithm, train
"""

from .config import ConfigError, TrialConfig
from .data import DatasetError, ImageDataset, load_dataset
from .loop import DIVERGED, FINISHED, INTERRUPTED, Report, TrialResult, train
from .models import Algorithm, build_algorithm

__all__ = ["TrialConfig", "ConfigError", "build_algorithm", "Algorithm", "train", "Report",
           "TrialResult", "FINISHED", "DIVERGED", "INTERRUPTED", "load_dataset", "ImageDataset",
           "DatasetError"]
