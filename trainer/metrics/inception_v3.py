"""ImageNet Inception-v3 as an optional classifier, from torchvision's weights file supplied by
the user (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MetricsError

WEIGHTS_HINT = ("download torchvision's Inception-v3 weights (inception_v3_google-0cc3c7bd.pth) on "
                "a machine with internet access and pass their path with --inception-weights FILE")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def load_weights(net: nn.Module, path: Path) -> None:
    """``net``'s weights from ``path``, read once; a file that does not fit is a MetricsError with a
    short reason (load_state_dict's own message lists every tensor that is missing or odd)."""
    def refused(reason: str) -> MetricsError:
        return MetricsError(f"{path} is not torchvision Inception-v3 weights ({reason}); {WEIGHTS_HINT}")

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise refused(f"not a PyTorch weights file: {type(err).__name__}") from None
    if not isinstance(state, dict):
        raise refused(f"it holds a {type(state).__name__}, not a state dict")
    own = net.state_dict()
    missing, unknown = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unknown:
        raise refused(f"{len(missing)} of its {len(own)} tensors missing" + (f", e.g. {missing[0]}" if missing else "")
                      + f"; {len(unknown)} unknown" + (f", e.g. {unknown[0]}" if unknown else ""))
    for name, tensor in own.items():
        shape = getattr(state[name], "shape", None)
        if shape != tensor.shape:
            raise refused(f"{name} has shape {tuple(shape or ())}, expected {tuple(tensor.shape)}")
    try:
        net.load_state_dict(state)
    except Exception as err:  # noqa: BLE001
        raise refused(f"{type(err).__name__}: {str(err).splitlines()[0][:200]}") from None


class InceptionClassifier(nn.Module):
    """Images in [-1, 1] of any size -> 1000 ImageNet logits; ``features`` = 2048 pool units."""

    def __init__(self, weights: str | Path):
        super().__init__()
        from torchvision.models import inception_v3

        path = Path(weights)
        if not path.is_file():
            raise MetricsError(f"Inception-v3 weights not found at {path}: {WEIGHTS_HINT}")
        net = inception_v3(weights=None, aux_logits=True, init_weights=False)
        load_weights(net, path)
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
