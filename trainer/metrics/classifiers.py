"""In-domain classifiers for the inception score, FID features and mode counts, trained by the
product itself and kept in a cache folder of the user's (``$ALPHAGAN_CACHE/classifiers``).

- ``DigitClassifier``: a small CNN for one 28x28 digit; ``StackedDigitClassifier`` applies it to
  each channel of a stacked image (ColorMNIST, digits): 3 x 10 digit probabilities, whose outer
  product is the distribution over the 1000 modes.
- ``VGGClassifier``: the VGG-style CIFAR-10 network of Table 5 (3x3 convolutions, batch norm after
  each, average pooling, linear to 10), trained with momentum SGD on random 24x24 crops
  (Appendix H.5); evaluated on the centre 24x24 crop.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import save_atomically
from ..config import STACKED_DATASETS as STACKED
from ..data import ImageDataset, to_float
from ..data.shared_cache import cache_dir
from ..errors import MetricsError


class DigitClassifier(nn.Module):
    """One 28x28 grey digit in [-1, 1] -> 10 logits; ``features`` are the 128 penultimate units."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


class StackedDigitClassifier(nn.Module):
    """Applies a DigitClassifier to each of the three channels."""

    def __init__(self, digit: DigitClassifier | None = None):
        super().__init__()
        self.digit = digit or DigitClassifier()

    def channel_logits(self, x):                             # [B, 3, 10]
        b = x.shape[0]
        return self.digit(x.reshape(b * 3, 1, *x.shape[-2:])).view(b, 3, 10)

    def features(self, x):                                   # [B, 384]
        b = x.shape[0]
        return self.digit.features(x.reshape(b * 3, 1, *x.shape[-2:])).view(b, -1)

    def mode_probabilities(self, x):                         # [B, 1000]
        p = self.channel_logits(x).softmax(-1)
        return (p[:, 0, :, None, None] * p[:, 1, None, :, None] * p[:, 2, None, None, :]).flatten(1)


# Table 5: (stride, feature maps) of each 3x3 convolution.
TABLE_5 = ((2, 64), (1, 64), (2, 128), (1, 128), (2, 128), (2, 256), (2, 256), (2, 256),
           (2, 512), (2, 512), (2, 512))
CROP = 24


class VGGClassifier(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        layers, channels = [], 3
        for stride, maps in TABLE_5:
            layers += [nn.Conv2d(channels, maps, 3, stride, padding=1, bias=False),
                       nn.BatchNorm2d(maps), nn.ReLU()]
            channels = maps
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels, classes)

    @staticmethod
    def centre_crop(x):
        top = (x.shape[-1] - CROP) // 2
        return x[..., top:top + CROP, top:top + CROP]

    def features(self, x):
        return self.body(self.centre_crop(x) if x.shape[-1] != CROP else x)

    def forward(self, x):
        return self.head(self.features(x))


# ---------------------------------------------------------------------------- training
def _digit_training_set(data: ImageDataset, split: str, limit: int):
    images = to_float(data.split(split)[: (limit + 2) // 3])
    labels = data.labels[split][: len(images)]
    return images.reshape(-1, 1, *images.shape[-2:]), labels.reshape(-1)


def train_digit_classifier(data: ImageDataset, steps: int = 1000, batch_size: int = 64,
                           seed: int = 0, log: Callable[[str], None] = print) -> StackedDigitClassifier:
    torch.manual_seed(seed)
    x, y = _digit_training_set(data, "train", 60_000)
    model = StackedDigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=generator)
        loss = F.cross_entropy(model.digit(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 500 == 0:
            log(f"digit classifier: step {step + 1}/{steps}, loss {loss.item():.3f}")
    return model.eval()


def train_vgg_classifier(data: ImageDataset, steps: int = 20_000, batch_size: int = 128,
                         seed: int = 0, device: str = "cpu", log: Callable[[str], None] = print,
                         partial: Path | None = None, save_every: int = 1000) -> VGGClassifier:
    """Appendix H.5: momentum 0.9, learning rate 0.1 decayed by 0.1 at 50% and 75% of the steps
    (the paper: at 40k and 60k of its steps), l2 1e-4, random 24x24 crops. Hours on a CPU: with
    ``partial``, the training state is written there every ``save_every`` steps and a run with the
    same settings resumes from it (bit-identically on CPU: the batches come from a saved generator)."""
    torch.manual_seed(seed)
    model = VGGClassifier().to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [steps // 2, 3 * steps // 4], gamma=0.1)
    images, labels = data.train.to(device), data.labels["train"].to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    settings = {"steps": steps, "batch_size": batch_size, "seed": seed}
    start = 0
    if partial is not None and partial.is_file():
        state = torch.load(partial, map_location="cpu", weights_only=True)
        if state["settings"] == settings:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            start = state["step"]
            log(f"cifar10 classifier: resuming at step {start}/{steps} from {partial}")
    for step in range(start, steps):
        idx = torch.randint(0, len(images), (batch_size,), generator=generator, device=device)
        top, left = (torch.randint(0, 32 - CROP + 1, (2,), generator=generator, device=device)).tolist()
        x = to_float(images[idx][..., top:top + CROP, left:left + CROP])
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % save_every == 0:
            if partial is not None and step + 1 < steps:
                _atomic_save({"settings": settings, "step": step + 1, "model": model.state_dict(),
                              "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                              "generator": generator.get_state()}, partial)
            log(f"cifar10 classifier: step {step + 1}/{steps}, loss {loss.item():.3f}")
    return model.eval()


def _atomic_save(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(state, path)


@torch.no_grad()
def accuracy(model: nn.Module, data: ImageDataset, split: str = "test", limit: int = 10_000) -> float:
    model.eval()
    if isinstance(model, StackedDigitClassifier):
        x, y = _digit_training_set(data, split, limit)
        predicted = torch.cat([model.digit(b).argmax(1) for b in x.split(600)])
    else:
        x, y = to_float(data.split(split)[:limit]), data.labels[split][:limit]
        predicted = torch.cat([model(b).argmax(1) for b in x.split(200)])
    return (predicted == y).float().mean().item()


# ---------------------------------------------------------------------------- cache
def fingerprint(data: ImageDataset) -> str:
    digest = hashlib.sha256()
    for split in ("train", "test"):
        images = data.split(split)
        digest.update(str(tuple(images.shape)).encode())
        digest.update(images[:: max(1, len(images) // 64)].numpy().tobytes())
    return digest.hexdigest()[:12]


def classifier_path(data: ImageDataset) -> Path:
    return cache_dir() / "classifiers" / f"{data.name}-{fingerprint(data)}.pt"


def partial_path(path: Path) -> Path:
    """Where the training of the classifier kept at ``path`` keeps its state until it is done."""
    return path.with_name(path.stem + ".partial.pt")


def default_steps(dataset: str) -> int:
    """Training steps of a dataset's classifier unless told otherwise (docs/metrics.md)."""
    return 1000 if dataset in STACKED else 20_000


def kept_classifier(path: Path) -> dict | None:
    """What the classifier kept at ``path`` (``classifier_path(data)``) records of itself:
    ``test_accuracy`` and ``steps`` (None in files written before steps were kept); None when
    there is no kept classifier."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {"test_accuracy": state.get("test_accuracy"), "steps": state.get("steps")}


def has_classifier(dataset: str) -> bool:
    return dataset in STACKED or dataset == "cifar10"


def build_classifier(dataset: str) -> nn.Module:
    """An untrained in-domain classifier of the right kind for ``dataset`` (load a state into it)."""
    return StackedDigitClassifier() if dataset in STACKED else VGGClassifier()


def load_or_train_classifier(data: ImageDataset, *, train_if_missing: bool = True, steps: int | None = None,
                             device: str = "cpu", retrain: bool = False,
                             log: Callable[[str], None] = print) -> nn.Module:
    """The dataset's in-domain classifier from the cache, trained (and kept) when missing; with
    ``retrain``, trained anew and put in place of the kept one only once trained."""
    if not has_classifier(data.name):
        raise MetricsError(f"no in-domain classifier for {data.name}: inception score, FID and mode "
                         "counts use one for colormnist, digits and cifar10 (or Inception-v3 weights)")
    path = classifier_path(data)
    model = build_classifier(data.name)
    if path.is_file() and not retrain:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
        return model.eval()
    if not train_if_missing:
        raise MetricsError(f"no {data.name} classifier in {path.parent}: run "
                                f"`orchestrate classifier train --dataset {data.name}`")
    log(f"training the {data.name} classifier (kept in {path})")
    start, steps = time.perf_counter(), steps or default_steps(data.name)
    if data.name in STACKED:
        model = train_digit_classifier(data, steps=steps, log=log)
    else:
        model = train_vgg_classifier(data, steps=steps, device=device, log=log, partial=partial_path(path)).cpu()
    acc = accuracy(model, data)
    log(f"{data.name} classifier: test accuracy {100 * acc:.2f} % after "
        f"{time.perf_counter() - start:.0f} s")
    _atomic_save({"state_dict": model.state_dict(), "dataset": data.name, "test_accuracy": acc,
                  "steps": steps}, path)
    partial_path(path).unlink(missing_ok=True)
    return model.eval()
