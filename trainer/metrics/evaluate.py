"""All metrics for a set of images, a trial's checkpoint, or a dataset's own test split."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..checkpoint import CheckpointStore
from ..config import TrialConfig
from ..data import ImageDataset, load_dataset, to_float
from ..errors import MetricsError
from ..memory import available_bytes, in_binary_units
from ..models import build_algorithm
from ..networks import DATASET_ARCHITECTURE
from .classifiers import StackedDigitClassifier, has_classifier, load_or_train_classifier
from .critic import IndependentCritic
from .diversity import sample_diversity, with_normal_noise
from .scores import frechet_distance, inception_score, mode_statistics


class Timer:
    """Seconds of each step of an evaluation; with ``log``, a progress line as each step starts."""

    def __init__(self, log: Callable[[str], None] | None = None):
        self.seconds: dict[str, float] = {}
        self.log = log

    def __call__(self, name: str, fn: Callable):
        if self.log is not None:
            self.log(f"evaluating: {name} ...")
        start = time.perf_counter()
        result = fn()
        self.seconds[name] = time.perf_counter() - start
        return result


@torch.no_grad()
def _classify(classifier, images: torch.Tensor, batch_size: int = 200):
    """(class or mode probabilities, features, per-channel digits or None) for images in [-1, 1],
    on the CPU; each batch runs on the classifier's device (Inception-v3 on a GPU with --device)."""
    device = next(classifier.parameters()).device
    probs, feats, digits = [], [], []
    for batch in images.split(batch_size):
        batch = batch.to(device)
        feats.append(classifier.features(batch).cpu())
        if isinstance(classifier, StackedDigitClassifier):
            logits = classifier.channel_logits(batch)
            digits.append(logits.argmax(-1).cpu())
            p = logits.softmax(-1)
            probs.append((p[:, 0, :, None, None] * p[:, 1, None, :, None] * p[:, 2, None, None, :]).flatten(1).cpu())
        else:
            probs.append(classifier(batch).softmax(-1).cpu())
    return torch.cat(probs), torch.cat(feats), (torch.cat(digits) if digits else None)


def classifier_metrics(images, data: ImageDataset, classifier, timer: Timer, prefix: str = "",
                       fid_images: torch.Tensor | None = None) -> dict:
    """Inception score and modes of ``images``; FID of ``fid_images`` (default: ``images``)
    against the test split."""
    metrics = {}
    probs, feats, digits = timer(f"{prefix}classify", lambda: _classify(classifier, images))
    mean, std = timer(f"{prefix}inception_score", lambda: inception_score(probs))
    metrics.update({f"{prefix}inception_score": mean, f"{prefix}inception_score_std": std})
    _, test_feats, _ = _classify(classifier, to_float(data.test))
    if fid_images is not None:
        _, feats, _ = _classify(classifier, fid_images)
    metrics[f"{prefix}fid"] = timer(f"{prefix}fid", lambda: frechet_distance(feats, test_feats))
    if digits is not None:
        modes, kl = timer(f"{prefix}modes", lambda: mode_statistics(digits))
        metrics.update({f"{prefix}modes": modes, f"{prefix}mode_kl": kl})
    return metrics


def evaluate_images(images: torch.Tensor, data: ImageDataset, *, classifier=None,
                    inception=None, timer: Timer | None = None,
                    fid_images: torch.Tensor | None = None, diversity_pairs: int = 5000) -> dict[str, float]:
    """Diversity, and with a classifier the inception score, FID (against the test split) and, on
    stacked digits, modes covered and KL to uniform. ``inception`` adds the same with ImageNet
    Inception-v3 under an ``inception_`` prefix."""
    timer = timer or Timer()
    metrics = {"sample_diversity": timer("sample_diversity", lambda: sample_diversity(images, diversity_pairs))}
    if classifier is not None:
        metrics.update(classifier_metrics(images, data, classifier, timer, fid_images=fid_images))
    if inception is not None:
        metrics.update(classifier_metrics(images, data, inception, timer, prefix="inception_",
                                          fid_images=fid_images))
    return metrics


def _critic_metrics(data: ImageDataset, sample, steps: int, width: float, device, timer: Timer) -> dict:
    critic = IndependentCritic(DATASET_ARCHITECTURE[data.name], data.val, data.test, device=device,
                               width=width)
    timer("critic_train", lambda: critic.train(lambda n: sample(n, critic.rng), steps))
    return {"critic_neg_w_val": critic.neg_w_validation(lambda n: sample(n, critic.rng)),
            "critic_neg_w_test": timer("critic_neg_w_test",
                                       lambda: critic.neg_w_test(lambda n: sample(n, critic.rng))),
            "critic_steps": steps}


def evaluate_reference(data: ImageDataset, *, classifier=None, inception=None, critic_steps: int = 500,
                       noise_std: float = 0.1, device: str = "cpu", timer: Timer | None = None) -> dict:
    """The dataset's own values: the test split as if it were a model's samples; diversity also
    with added normal noise; FID of as many training images against the test split (the floor a
    perfect model reaches with that many samples); the critic judges training images against
    held-out data."""
    timer = timer or Timer()
    test = to_float(data.test)
    metrics = evaluate_images(test, data, classifier=classifier, inception=inception, timer=timer,
                              fid_images=to_float(data.train[:len(data.test)]))
    metrics["sample_diversity_noisy"] = sample_diversity(with_normal_noise(test, noise_std))
    train = data.train.to(device)

    def training_images(n, generator):
        idx = torch.randint(0, len(train), (n,), device=train.device, generator=generator)
        return to_float(train[idx])

    if critic_steps:
        metrics.update(_critic_metrics(data, training_images, critic_steps, 1.0, device, timer))
    return metrics


def generate_samples(algo, n: int, generator: torch.Generator, chunk: int = 500) -> torch.Tensor:
    """``n`` samples of ``algo``'s generator on the CPU, drawn in chunks (eval-mode batch norm)
    into one tensor: the samples' memory once, not twice as chunks and their concatenation."""
    images = torch.empty((n, *algo.arch.image_shape))
    for start in range(0, n, chunk):
        part = algo.generate(algo.sample_prior(min(chunk, n - start), generator=generator))
        images[start:start + len(part)] = part.cpu()
    return images


def sample_memory(samples: int, image_shape: tuple[int, ...]) -> int:
    """Bytes that ``samples`` generated images of ``image_shape`` take (float32, as the metrics hold them)."""
    return samples * math.prod(image_shape) * 4


def check_memory_for_samples(samples: int, image_shape: tuple[int, ...],
                             available: int | None = None) -> None:
    """Refuses, before drawing any, more samples than the machine's free memory holds as float32
    images (where the free memory is known): drawing them would end with the system killing the
    process, or swapping for hours."""
    available = available_bytes() if available is None else available
    need = sample_memory(samples, image_shape)
    if available is not None and need > available:
        raise MetricsError(f"{samples:,} samples of {'x'.join(map(str, image_shape))} images need "
                           f"{in_binary_units(need)} of memory, but this machine has {in_binary_units(available)} "
                           f"free; evaluate at most {available // sample_memory(1, image_shape):,} samples")


@torch.no_grad()
def encode_test_codes(algo, data: ImageDataset, count: int, chunk: int = 500) -> torch.Tensor | None:
    """Codes of the first ``count`` test images (models with an encoder; else None), for the
    latent statistics of Figures 11-12."""
    if not algo.has_encoder or count <= 0:
        return None
    images = data.test[:count]
    return torch.cat([algo.encode(to_float(part.to(algo.device))).cpu() for part in images.split(chunk)])


def evaluate_generator(algo, data: ImageDataset, *, samples: int = 10_000, classifier=None, inception=None,
                       timer: Timer | None = None, seed: int = 12345,
                       diversity_pairs: int = 5000) -> dict[str, float]:
    """The sample metrics of a trained generator: ``samples`` images from a fixed seed."""
    timer = timer or Timer()
    check_memory_for_samples(samples, data.image_shape)
    fixed = torch.Generator(device=algo.device).manual_seed(seed)
    images = timer("generate", lambda: generate_samples(algo, samples, fixed))
    return evaluate_images(images, data, classifier=classifier, inception=inception, timer=timer,
                           diversity_pairs=diversity_pairs)


def evaluate_checkpoint(run_dir: str | Path, *, samples: int = 10_000, critic_steps: int = 500,
                        data_root: str | None = None, device: str = "cpu", classifier=None,
                        inception=None, data: ImageDataset | None = None, timer: Timer | None = None,
                        log: Callable[[str], None] = print) -> tuple[dict, TrialConfig]:
    """All metrics for the generator saved in ``run_dir/checkpoint.pt``."""
    timer = timer or Timer()
    store = CheckpointStore(run_dir)
    if not store.exists():
        raise MetricsError(f"no checkpoint in {run_dir}: pass the --out folder of a trial")
    state = store.load(advice="it cannot be evaluated; move it away and rerun the trial to write a new one")
    values = dict(state["config"], device=device)
    values.pop("checkpoint_every", None)    # a run setting; older trials may hold one off their reports
    if data_root is not None:
        values["data_root"] = data_root
    cfg = TrialConfig.from_dict(values, source=str(store.path))
    algo = build_algorithm(cfg)
    algo.load_state_dict(state["algorithm"])
    data = data or load_dataset(cfg.dataset, cfg.data_root, log=log)
    check_memory_for_samples(samples, data.image_shape)                 # before training a classifier
    if classifier is None and has_classifier(data.name):
        classifier = load_or_train_classifier(data, log=log)

    metrics = evaluate_generator(algo, data, samples=samples, classifier=classifier, inception=inception,
                                 timer=timer)
    if critic_steps:
        metrics.update(_critic_metrics(data, lambda n, generator: generate_samples(algo, n, generator),
                                       critic_steps, cfg.width, algo.device, timer))
    metrics["iteration"] = state["iteration"]
    return metrics, cfg
