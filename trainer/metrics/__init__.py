"""Evaluation metrics (Section 5): sample diversity (1 - MS-SSIM), inception score, FID, mode
counts on stacked digits, and the independent Wasserstein critic."""

from ..errors import MetricsError
from ..lazy_exports import lazy_exports

# torch is imported with the first of these names a program uses (trainer/lazy_exports.py)
__getattr__ = lazy_exports(__name__, {
    ".classifiers": ("DigitClassifier", "StackedDigitClassifier", "VGGClassifier", "build_classifier",
                     "has_classifier", "load_or_train_classifier"),
    ".critic": ("IndependentCritic",),
    ".diversity": ("pairwise_ms_ssim", "sample_diversity", "with_normal_noise"),
    ".evaluate": ("Timer", "encode_test_codes", "evaluate_checkpoint", "evaluate_generator", "evaluate_images",
                  "evaluate_reference", "generate_samples"),
    ".scores": ("frechet_distance", "inception_score", "mode_statistics"),
})

__all__ = ["sample_diversity", "pairwise_ms_ssim", "with_normal_noise", "inception_score",
           "mode_statistics", "frechet_distance", "IndependentCritic", "DigitClassifier",
           "StackedDigitClassifier", "VGGClassifier", "build_classifier", "has_classifier",
           "load_or_train_classifier", "evaluate_images", "evaluate_generator", "evaluate_reference",
           "evaluate_checkpoint", "generate_samples", "encode_test_codes", "Timer", "MetricsError"]
