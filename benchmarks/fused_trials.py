"""Aggregate training throughput of N α-GAN trials fused into one model (trainer/fused.py) next to
one trial trained alone, on the paper's ColorMNIST networks at batch 64: trial-iterations per
second, alternating rounds in one process (`make bench` runs it; on a GPU machine run it alone):

    python benchmarks/fused_trials.py --device cuda --trials 8 16 --iters 50
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer_step import colormnist_shaped_data, machine, side_by_side, step_arguments  # noqa: E402

from trainer import TrialConfig, build_algorithm  # noqa: E402
from trainer.data import BatchSampler  # noqa: E402
from trainer.fused import FusedAlgorithm  # noqa: E402

# learning rates and loss weights of the paper's α-GAN sweep (Table 2, Appendix H.1)
GRID = [dict(lr_generator=lr, recon_weight_encoder=w, recon_weight_generator=w) for lr in (1e-4, 5e-4)
        for w in (1, 5, 10, 50)]


def configs(n: int, device, width: float = 1.0, **settings) -> list[TrialConfig]:
    return [TrialConfig(model="alphagan", dataset="colormnist", device=str(device), latent_dim=50, width=width,
                        seed=i, **GRID[i % len(GRID)], **settings) for i in range(n)]


def bench_fused(n: int, data, iters: int, device, width: float = 1.0) -> tuple[float, float, float]:
    """(fused trial-iterations/s, one trial's iterations/s, ratio) as medians of alternating rounds."""
    cfgs = configs(n, device, width)
    alone = build_algorithm(cfgs[0])
    fused = FusedAlgorithm([build_algorithm(c) for c in cfgs])
    samplers = [BatchSampler(data.train, c.batch_size, seed=c.seed + 1, device=device) for c in cfgs]
    # one entry per timed step: the fused step gets the N trials' batches, the single trial the first
    batches = [torch.stack([s.next() for s in samplers]) for _ in range(iters + 2)]
    fused_rate, alone_rate, _ = side_by_side(fused.step_tensors, lambda x: alone.step_tensors(x[0]), batches, device)
    return fused_rate * n, alone_rate, fused_rate * n / alone_rate


def main() -> None:
    parser = step_arguments(__doc__)
    parser.add_argument("--trials", type=int, nargs="+", default=[4])
    args = parser.parse_args()
    device = torch.device(args.device)
    data = colormnist_shaped_data()
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"on {device}{gpu}: {machine()}")
    print("| fused trials | trial-it/s fused | it/s one trial alone | aggregate speed-up |\n|---:|---:|---:|---:|")
    for n in args.trials:
        fused, alone, ratio = bench_fused(n, data, args.iters, device, width=args.width)
        print(f"| {n} | {fused:.2f} | {alone:.2f} | {ratio:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
