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


def why_not_loaded(path: Path, net: nn.Module, err: Exception) -> str:
    """A short reason (load_state_dict's own message lists every tensor that is missing or odd)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as unreadable:  # noqa: BLE001
        return f"not a PyTorch weights file: {type(unreadable).__name__}"
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a state dict"
    expected, given = set(net.state_dict()), set(state)
    missing, unknown = sorted(expected - given), sorted(given - expected)
    if missing or unknown:
        parts = [f"{len(missing)} of its {len(expected)} tensors missing" + (f", e.g. {missing[0]}" if missing else ""),
                 f"{len(unknown)} unknown" + (f", e.g. {unknown[0]}" if unknown else "")]
        return "; ".join(parts)
    for name, tensor in net.state_dict().items():
        if getattr(state[name], "shape", None) != tensor.shape:
            return f"{name} has shape {tuple(getattr(state[name], 'shape', ()))}, expected {tuple(tensor.shape)}"
    return f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"


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
            raise MetricsError(f"{path} is not torchvision Inception-v3 weights ({why_not_loaded(path, net, err)}); "
                               f"{WEIGHTS_HINT}") from None
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
