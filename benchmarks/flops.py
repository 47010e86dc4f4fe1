"""Floating-point work of one training iteration, per model, with the paper's ColorMNIST networks
(batch 64), counted by torch.utils.flop_counter over the trainer's whole step (every forward,
backward and update of Algorithm 1's iteration), on the CPU: the count does not depend on the
device. WGAN-GP's gradient penalty differentiates with torch.autograd.grad, inside which the
counter cannot run: its step is counted without the penalty term's second backward (a lower
bound; the row says so).

Also prints what a rate of trial-iterations/s means as a fraction of an H200's peak (NVIDIA's
H200 SXM figures, dense: FP32 67 TFLOP/s on CUDA cores, TF32 494 and BF16 989 TFLOP/s on tensor
cores), for the GPU benchmark's figures (docs/benchmarks-gpu.md) and the issue's target.

    python benchmarks/flops.py --rates 714 2500
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from trainer import TrialConfig, build_algorithm  # noqa: E402

H200_PEAK_TFLOPS = {"FP32 (CUDA cores)": 67.0, "TF32 (tensor cores)": 494.0, "BF16 (tensor cores)": 989.0}


def iteration_flops(model: str, dataset: str = "colormnist", width: float = 1.0) -> tuple[float, str]:
    cfg = TrialConfig(model=model, dataset=dataset, device="cpu", width=width, cuda_graphs=False)
    algo = build_algorithm(cfg)
    x = torch.rand(cfg.batch_size * algo.real_batches_per_step, 3, 28, 28) * 2 - 1
    note, patch = "", contextlib.nullcontext()
    if model == "wgangp":
        # the penalty's critic pass on the interpolates is counted, its double backward is not
        def penalty_forward_only(critic, x_real, x_fake, eps):
            return critic(eps * x_real + (1 - eps) * x_fake).mean() * 0

        patch = mock.patch("trainer.models.wgangp.gradient_penalty", penalty_forward_only)
        note = "without the gradient penalty's double backward (a lower bound)"
    with patch:
        algo.step_tensors(x)                                # warm: lazily built state
        with FlopCounterMode(display=False) as counter:
            algo.step_tensors(x)
    return counter.get_total_flops(), note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["alphagan", "dcgan", "age", "wgangp"])
    parser.add_argument("--rates", nargs="*", type=float, default=[714.0, 2500.0],
                        help="α-GAN trial-iterations/s to express as fractions of the H200's peak")
    parser.add_argument("--width", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print("| model (ColorMNIST, batch 64) | GFLOP per iteration | note |\n|---|---:|---|")
    flops = {}
    for model in args.models:
        flops[model], note = iteration_flops(model, width=args.width)
        print(f"| {model} | {flops[model] / 1e9:.2f} | {note} |", flush=True)
    if "alphagan" in flops and args.rates:
        print("\n| α-GAN trial-it/s | TFLOP/s | " + " | ".join(f"of {k} peak" for k in H200_PEAK_TFLOPS) + " |")
        print("|---:|---:|" + "---:|" * len(H200_PEAK_TFLOPS))
        for rate in args.rates:
            tflops = rate * flops["alphagan"] / 1e12
            print(f"| {rate:,.0f} | {tflops:.1f} | " + " | ".join(f"{tflops / peak:.0%}" for peak in
                                                                  H200_PEAK_TFLOPS.values()) + " |")


if __name__ == "__main__":
    main()
