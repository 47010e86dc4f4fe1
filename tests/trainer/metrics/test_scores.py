"""Inception score, mode statistics and Frechet distance against closed-form values."""

import math

import numpy as np
import torch

from trainer.metrics import frechet_distance, inception_score, mode_statistics


def test_inception_score_of_confident_uniform_predictions_is_the_class_count():
    probs = torch.eye(10).repeat(100, 1)                         # 1000 samples, 10 classes evenly
    mean, std = inception_score(probs, splits=10)
    assert math.isclose(mean, 10.0, rel_tol=1e-9) and std < 1e-9


def test_inception_score_of_one_repeated_prediction_is_one():
    probs = torch.softmax(torch.randn(1, 10), 1).repeat(500, 1)
    assert math.isclose(inception_score(probs)[0], 1.0, rel_tol=1e-9)


def test_inception_score_equals_the_formula():
    torch.manual_seed(0)
    probs = torch.softmax(3 * torch.randn(400, 7), 1)
    p = probs.double().numpy()
    scores = []
    for part in np.array_split(p, 4):
        marginal = part.mean(0)
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(marginal)), 1))))
    mean, std = inception_score(probs, splits=4)
    assert math.isclose(mean, np.mean(scores), rel_tol=1e-9) and math.isclose(std, np.std(scores), rel_tol=1e-7)


def test_mode_statistics():
    all_modes = torch.tensor([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
    assert mode_statistics(all_modes) == (1000, 0.0)
    covered, kl = mode_statistics(torch.tensor([[1, 2, 3]] * 50))
    assert covered == 1 and math.isclose(kl, math.log(1000))
    covered, kl = mode_statistics(torch.tensor([[0, 0, 0], [0, 0, 0], [0, 0, 1], [9, 9, 9]]))
    expected = 0.5 * math.log(0.5 * 1000) + 2 * 0.25 * math.log(0.25 * 1000)
    assert covered == 3 and math.isclose(kl, expected)


def test_frechet_distance_of_gaussians():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(200_000, 3, generator=generator, dtype=torch.float64)
    b = torch.randn(200_000, 3, generator=generator, dtype=torch.float64) * 2 + torch.tensor([1.0, 0.0, -1.0])
    # closed form for diagonal covariances: |mu_a - mu_b|^2 + sum (s_a + s_b - 2 sqrt(s_a s_b))
    expected = 2.0 + 3 * (1 + 4 - 2 * 2)
    assert abs(frechet_distance(a, b) - expected) < 0.05
    assert abs(frechet_distance(a, a)) < 1e-6
