"""`make bench`: every benchmark of the project in one run, printed as one table and written,
with the machine it ran on, to docs/benchmarks.md.

- the training step of each model on the ColorMNIST networks at batch 64, next to a plain eager
  implementation of the same algorithm (alternating rounds in one process), and the share of the
  step spent sampling data (trainer_step.py);
- the time of each metric on 10,000 samples (metric_times.py);
- the aggregate throughput of α-GAN trials fused into one model next to one trial alone
  (fused_trials.py);
- the orchestration overhead per trial of a sweep of short trials, with and without actor reuse
  (orchestration.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import fused_trials  # noqa: E402
import metric_times  # noqa: E402
import orchestration  # noqa: E402
import trainer_step  # noqa: E402

METRIC_LABELS = {"sample_diversity": "sample diversity (5,000 MS-SSIM pairs)",
                 "classify": "in-domain classifier pass", "inception_score": "inception score",
                 "fid": "FID", "modes": "modes and mode KL", "critic_train": "independent critic, {critic_steps} steps",
                 "critic_neg_w_test": "critic -W over the test split"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=20, help="timed training iterations per side")
    parser.add_argument("--trials", type=int, default=8, help="trials of the orchestration sweep")
    parser.add_argument("--fused", type=int, default=4, help="α-GAN trials fused into one model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--width", type=float, default=1.0,
                        help="network width of the training-step and fused rows (the paper's: 1)")
    metric_times.add_arguments(parser)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    import torch

    device = torch.device(args.device)
    machine = trainer_step.machine()         # before any part changes the thread count
    rows = ["| measurement | this project | baseline | ratio |", "|---|---:|---:|---:|"]

    def row(what, ours, baseline="", ratio=""):
        rows.append(f"| {what} | {ours} | {baseline} | {ratio} |")
        print(rows[-1], flush=True)

    data = trainer_step.colormnist_shaped_data()
    shares = {}
    for model in trainer_step.MODELS:
        ours, plain, speedup, share = trainer_step.bench_model(model, data, args.iters, device, args.width)
        shares[model] = share
        row(f"{model} step, it/s (baseline: plain eager)", f"{ours:.2f}", f"{plain:.2f}", f"{speedup:.2f}x")
    row("data sampling, share of the step (largest over models)", f"{100 * max(shares.values()):.2f} %")
    split = trainer_step.time_split("alphagan", data, 4, device, args.width)
    (ours_conv, ours_other), (plain_conv, plain_other) = split["ours"], split["plain"]
    row("alphagan step under the profiler: share of its time in convolutions (baseline: plain eager's)",
        f"{100 * ours_conv / (ours_conv + ours_other):.0f} %", f"{100 * plain_conv / (plain_conv + plain_other):.0f} %")
    fused, alone, ratio = fused_trials.bench_fused(args.fused, data, args.iters, device, args.width)
    row(f"{args.fused} α-GAN trials fused into one model: trial-it/s (baseline: one trial alone)",
        f"{fused:.2f}", f"{alone:.2f}", f"{ratio:.2f}x")
    for name, seconds in metric_times.measure(args.critic_steps, args.classifier_steps).items():
        label = METRIC_LABELS.get(name, name).format(critic_steps=args.critic_steps)
        row(f"{label} on 10,000 samples, s", f"{seconds:.2f}")
    result = orchestration.measure(args.trials)
    reuse, stock = result["reuse"], result["stock"]
    row(f"sweep of {args.trials} short trials: overhead per trial, s (baseline: stock Ray Tune, no actor reuse)",
        f"{reuse['overhead_per_trial_s']:.2f}", f"{stock['overhead_per_trial_s']:.2f}",
        f"{stock['overhead_per_trial_s'] - reuse['overhead_per_trial_s']:.2f} s less")
    row("  its quartiles over the trials, s", *(" to ".join(f"{q:.2f}" for q in r["overhead_quartiles_s"])
                                               for r in (reuse, stock)))
    row("  of which the gap between two trials, s", f"{reuse['gap_per_trial_s']:.2f}",
        f"{stock['gap_per_trial_s']:.2f}")
    row("  first trial's extra time (worker processes start, imports), s", f"{reuse['first_trial_extra_s']:.1f}",
        f"{stock['first_trial_extra_s']:.1f}")
    row("  Ray start, s", f"{reuse['ray_start_s']:.1f}", f"{stock['ray_start_s']:.1f}")
    row("  one trial's work in one process (median), s", f"{result['in_process_typical_s']:.2f}")
    table = "\n".join(rows)
    print(f"\non {device}: {machine}\n\n{table}")
    if not args.no_write:
        path = HERE.parent / "docs" / "benchmarks.md"
        path.write_text(
            "# Benchmarks\n\nWritten by `make bench` (`benchmarks/run_all.py`); the numbers below are from "
            f"its last run, on {device}: {machine}.\n\n{table}\n\n"
            f"**Training step**: the paper's ColorMNIST networks (Tables 3-4, width {args.width:g}, latent 50), "
            f"batch 64, {args.iters} timed iterations per side after 2 warm-up, in rounds of one iteration each in "
            "the order this trainer, plain, plain, this trainer (medians; the speed-up is the median of the rounds' "
            "ratios, so a machine whose speed drifts affects both alike). The plain eager baseline "
            "(`benchmarks/plain_eager.py`) is the same algorithm written the obvious way with stock PyTorch "
            "layers and optimizers: full graphs, zero_grad / backward / step "
            "per update. One α-GAN iteration is two encoder and two generator updates, one discriminator and one "
            "code-discriminator update; WGAN-GP's is five critic updates and one generator update.\n\n"
            "**Why α-GAN stops near 1.3x on this CPU**: the step is compute-bound. The profiler row shows "
            "convolutions taking about four fifths of both steps, and the large ones run at about 140 GFLOP/s, "
            "the peak of two AVX2 cores (a bare 32-to-64-channel 5x5 convolution at 14x14, batch 64, measured "
            "alone). This trainer already leaves out all the convolution work Algorithm 1 allows: no weight "
            "gradients of networks that are not being updated, the encoder run 3 times per iteration instead "
            "of 5, stride-1 transposed convolutions run as ordinary ones. What is left is the algorithm's own "
            "arithmetic: the speed-up is that of the convolution work (1.2x to 1.5x under the profiler, whose "
            "4 iterations are noisy). Over 16 rounds of ours/plain/plain/ours single iterations it was 1.30x "
            "(quartiles 1.27x and 1.32x), so a `make bench` run lands on either side of 1.3x. Tried and "
            "measured, none faster here: channels-last layouts, the last transposed convolution as a "
            "sub-pixel convolution, torch.compile (inductor, CPU), ATen's own convolutions "
            "instead of oneDNN's, and other malloc settings. bf16 is much slower on CPUs without bf16 units.\n\n"
            f"**Fused trials**: {args.fused} α-GAN trials with the learning rates and loss weights of the paper's "
            "grid trained as one vmapped model (`trainer/fused.py`, `resources.fuse_trials` in a sweep spec), "
            "trial-iterations per second next to one trial trained alone, alternating rounds as above. On a CPU "
            "the convolutions already keep the cores busy, so fusing cannot help much. On GPUs, which the small "
            "ColorMNIST networks leave mostly idle, `make bench-gpu` measures it with CUDA graphs, bf16 and "
            "one-trial processes sharing the GPU (docs/benchmarks-gpu.md: on an H200, 8 one-trial processes "
            "with CUDA graphs gave 26x one trial per GPU, 8 fused trials 15x)."
            "\n\n"
            "**Metrics**: the embedded digits test set (10,000 stacked images) stands in for a model's samples; "
            "the classifier is the cached in-domain one.\n\n"
            f"**Orchestration**: `orchestrate sweep` of {args.trials} α-GAN trials of 20 iterations on synthetic "
            "data (width 0.125, reports at 10 and 20, the critic from iteration 10, final evaluation on 200 "
            "samples), one trial at a time on 2 CPUs (1 for the trial, 1 for its critic), SQLite MLflow store. "
            "Overhead per trial: the gap since the previous trial ended plus how much longer the trial ran than "
            "the same work in one process (timed before and after the sweeps, so that drift in the machine's "
            "speed cancels), median over the trials after the first, with its quartiles (a median just below 0 is "
            "trials that ran faster than the in-process median: noise of shared cores, which the quartiles "
            "show). The critic runs beside the trial in the "
            "sweep and after it in one process, so a noisy second core shows as overhead. The first trial's "
            "extra time is paid once per worker process (it is spent importing torch and MLflow and starting "
            "the critic's "
            "process), like Ray's own start.\n")
        print(f"written to {path}")


if __name__ == "__main__":
    main()
