"""ImageNet Inception-v3 as an optional classifier, from torchvision's weights file supplied by
the user (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .scores import MetricsError

WEIGHTS_HINT = ("download torchvision's Inception-v3 weights (inception_v3_google-0cc3c7bd.pth) on "
                "a machine with internet access and pass their path with --inception-weights FILE")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class InceptionClassifier(nn.Module):
    """Images in [-1, 1] of any size -> 1000 ImageNet logits; ``features`` = 2048 pool units."""

    def __init__(self, weights: str | Path):
        super().__init__()
        from torchvision.models import inception_v3

        path = Path(weights)
        if not path.is_file():
            raise MetricsError(f"Inception-v3 weights not found at {path}: {WEIGHTS_HINT}")
        net = inception_v3(weights=None, aux_logits=True, init_weights=False)
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
            raise MetricsError(f"{path} is not torchvision Inception-v3 weights ({err}); {WEIGHTS_HINT}") from None
        self.fc = net.fc
        net.fc = nn.Identity()
        self.net = net.eval()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def features(self, x):
        x = F.interpolate((x + 1) / 2, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net((x - self.mean) / self.std)

    def forward(self, x):
        return self.fc(self.features(x))
