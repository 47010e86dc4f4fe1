"""Iterations per second of each model's training step on the paper's ColorMNIST networks at
batch 64, next to a plain eager implementation of the same algorithm (benchmarks/plain_eager.py),
and the share of step time spent sampling data, as a Markdown table (`make bench` runs it with the
other benchmarks and writes docs/benchmarks.md).

    python benchmarks/trainer_step.py [--iters 10] [--device cpu] [--width 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plain_eager import make_plain_step  # noqa: E402

from trainer import TrialConfig, build_algorithm, load_dataset  # noqa: E402
from trainer.data import BatchSampler  # noqa: E402

MODELS = ["alphagan", "dcgan", "wgangp", "age"]


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
            f"Python {platform.python_version()}")


def timed(step, batches, device) -> float:
    """Seconds ``step`` takes over ``batches`` (the device synchronized at both ends)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for x in batches:
        step(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def side_by_side(ours, plain, batches, device) -> tuple[float, float, float]:
    """Median iterations/s of both steps and the median speed-up over rounds. Each round times
    one iteration of each in the order ours, plain, plain, ours (on the same two batches), so a
    machine whose speed drifts (shared CPUs, turbo) affects both alike within the round."""
    for x in batches[:2]:                          # warm-up
        ours(x)
        plain(x)
    rest = batches[2:]
    ours_rates, plain_rates, ratios = [], [], []
    for first, second in list(zip(rest[0::2], rest[1::2], strict=False)) or [(rest[0], rest[0])]:
        a1, p1 = timed(ours, [first], device), timed(plain, [first], device)
        p2, a2 = timed(plain, [second], device), timed(ours, [second], device)
        ours_rates.append(2 / (a1 + a2))
        plain_rates.append(2 / (p1 + p2))
        ratios.append((p1 + p2) / (a1 + a2))
    return statistics.median(ours_rates), statistics.median(plain_rates), statistics.median(ratios)


def bench_model(model, data, iters, device, width=1.0):
    cfg = TrialConfig(model=model, dataset="colormnist", device=str(device), latent_dim=50, width=width)
    ours = build_algorithm(cfg)
    plain = build_algorithm(cfg)
    sampler = BatchSampler(data.train, cfg.batch_size, seed=0, device=device)
    batches = [sampler.next(ours.real_batches_per_step) for _ in range(iters + 2)]
    ours_rate, plain_rate, speedup = side_by_side(ours.step_tensors, make_plain_step(plain), batches, device)
    start = time.perf_counter()
    for _ in range(200):
        sampler.next(ours.real_batches_per_step)
    if device.type == "cuda":
        torch.cuda.synchronize()
    sample_time = (time.perf_counter() - start) / 200
    share = sample_time / (sample_time + 1 / ours_rate)
    return ours_rate, plain_rate, speedup, share


CONVOLUTION_OPS = ("aten::convolution_backward", "aten::mkldnn_convolution", "aten::_convolution",
                   "aten::cudnn_convolution", "aten::cudnn_convolution_transpose")


def time_split(model, data, iters, device, width=1.0) -> dict[str, tuple[float, float]]:
    """Where the step's time goes, under torch's profiler: ms per iteration in convolutions
    (forward and backward) and in everything else, for this trainer and the plain eager step."""
    from torch.profiler import profile

    cfg = TrialConfig(model=model, dataset="colormnist", device=str(device), latent_dim=50, width=width)
    sampler = BatchSampler(data.train, cfg.batch_size, seed=0, device=device)
    ours = build_algorithm(cfg)
    split = {}
    for name, step in (("ours", ours.step_tensors), ("plain", make_plain_step(build_algorithm(cfg)))):
        batches = [sampler.next(ours.real_batches_per_step) for _ in range(iters + 2)]
        for x in batches[:2]:
            step(x)
        with profile() as prof:
            for x in batches[2:]:
                step(x)
        conv = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in CONVOLUTION_OPS)
        total = sum(e.self_cpu_time_total for e in prof.key_averages())
        split[name] = (conv / iters / 1000, (total - conv) / iters / 1000)
    return split


def step_arguments(description: str) -> argparse.ArgumentParser:
    """The options of the step benchmarks: --iters, --device, --width."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--width", type=float, default=1.0, help="network width (the paper's: 1)")
    return parser


def colormnist_shaped_data():
    """The embedded digits set: the same 28x28x3 images as ColorMNIST, no files needed."""
    return load_dataset("digits", log=lambda m: None)


def main() -> None:
    args = step_arguments(__doc__).parse_args()
    device = torch.device(args.device)
    data = colormnist_shaped_data()
    rows = ["| model | trainer it/s | plain eager it/s | speed-up | data sampling share |",
            "|---|---:|---:|---:|---:|"]
    for model in MODELS:
        ours, plain, speedup, share = bench_model(model, data, args.iters, device, args.width)
        rows.append(f"| {model} | {ours:.2f} | {plain:.2f} | {speedup:.2f}x | {100 * share:.2f} % |")
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    header = (f"ColorMNIST networks (Tables 3-4, width {args.width:g}, latent 50), batch 64, {args.iters} timed "
              f"iterations each after 2 warm-up, in rounds of one iteration each in the order this trainer, plain, "
              f"plain, this trainer (medians; speed-up = median of the rounds' ratios), on {device}: {machine()}.")
    print(f"\n{header}\n\n{table}")


if __name__ == "__main__":
    main()
