"""Inception score, mode counts and Frechet distance, from classifier outputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

NUM_MODES = 1000


def inception_score(probabilities: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) on each of ``splits`` equal parts; (mean, std) over the parts."""
    p = probabilities.double().clamp_min(1e-30)
    scores = []
    for part in p.chunk(splits):
        marginal = part.mean(0, keepdim=True)
        kl = (part * (part.log() - marginal.log())).sum(1).mean()
        scores.append(math.exp(kl.item()))
    return float(np.mean(scores)), float(np.std(scores))


def mode_statistics(digits: torch.Tensor) -> tuple[int, float]:
    """Stacked digits [N, 3] -> (modes covered out of 1000, KL(mode histogram || uniform))."""
    modes = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    counts = torch.bincount(modes, minlength=NUM_MODES).double()
    q = counts / counts.sum()
    nonzero = q > 0
    kl = (q[nonzero] * torch.log(q[nonzero] * NUM_MODES)).sum().item()
    return int(nonzero.sum()), kl


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two feature sets [N, D]."""
    from scipy import linalg  # imported here: scipy is slow to import

    a, b = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():        # singular for collapsed samples; handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(s_a @ s_b)
        if not np.isfinite(root).all():                    # singular product: regularise
            offset = np.eye(len(s_a)) * 1e-6
            root = linalg.sqrtm((s_a + offset) @ (s_b + offset))
    root = root.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root))
