"""The GPU measurements in one run (`make bench-gpu`): how many ColorMNIST α-GAN trials one GPU
trains, and how fast, by each way of packing them, next to one trial per GPU.

- each model's step next to the plain eager step (as `make bench` on the CPU);
- one α-GAN trial: fp32, bf16 autocast, CUDA graphs, both;
- N trials fused into one model (trainer/fused.py), with and without CUDA graphs and bf16;
- N trials as N processes sharing the GPU, as a sweep with fractional GPUs runs them, eager and with
  CUDA graphs (--process-variants: also bf16, and bf16 with channels-last weights);
- with --grid-rates N: N one-trial processes of each model on each paper dataset's networks (random
  images of the dataset's size), written to rates.json beside --out for benchmarks/grid_cost.py.

Throughput is trial-iterations per second summed over the trials; the ratio is against one trial
alone in fp32 without graphs. Prints a Markdown table and writes it with the machine to --out:

    python benchmarks/gpu.py --out /tmp/gpu.md [--trials 8 16 32] [--processes 8] [--no-cudnn-benchmark]
    python benchmarks/gpu.py --models --no-one-trial --trials --processes --grid-rates 8 --out /tmp/grid.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flops import H200_PEAK_TFLOPS, iteration_flops  # noqa: E402
from fused_trials import configs  # noqa: E402
from trainer_step import MODELS, bench_model, colormnist_shaped_data, machine, step_arguments, timed  # noqa: E402

from trainer import TrialConfig, build_algorithm  # noqa: E402
from trainer.cuda_graphs import make_step  # noqa: E402
from trainer.data import BatchSampler  # noqa: E402
from trainer.fused import FusedAlgorithm  # noqa: E402
from trainer.networks import DATASET_ARCHITECTURE  # noqa: E402

WARMUP = 5          # eager warm-up steps; CUDA graphs capture after 3 of them
VARIANTS = {"fp32": dict(cuda_graphs=False), "bf16": dict(precision="bf16", cuda_graphs=False),
            "CUDA graphs": dict(cuda_graphs=True),
            "CUDA graphs + bf16": dict(cuda_graphs=True, precision="bf16"),
            "CUDA graphs + bf16 + channels-last": dict(cuda_graphs=True, precision="bf16", channels_last=True)}
PAPER_DATASETS = ("colormnist", "cifar10", "celeba")


def trial_configs(n: int, variant: dict, device, width: float, model: str, dataset: str) -> list[TrialConfig]:
    """``n`` α-GAN ColorMNIST trials of the paper's grid, or ``n`` trials of another model or
    dataset at its default settings (bf16 is refused for WGAN-GP: it runs in fp32)."""
    if (model, dataset) == ("alphagan", "colormnist"):
        return configs(n, device, width, **variant)
    if model == "wgangp":
        variant = {key: value for key, value in variant.items() if key != "precision"}
    return [TrialConfig(model=model, dataset=dataset, device=str(device), width=width, seed=i, **variant)
            for i in range(n)]


def random_images(dataset: str):
    """Images of the dataset's size (uint8, as the loaders give them): no files needed."""
    arch = DATASET_ARCHITECTURE[dataset]
    shape = (2048, *arch.image_shape)
    return SimpleNamespace(train=torch.randint(0, 256, shape, dtype=torch.uint8))


def trial_rate(n: int, fused: bool, variant: dict, data, iters: int, device, width: float,
               model: str = "alphagan", dataset: str = "colormnist") -> float:
    """Trial-iterations per second of ``n`` trials (one trial: unfused)."""
    cfgs = trial_configs(n, variant, device, width, model, dataset)
    algos = [build_algorithm(c) for c in cfgs]
    stepper = FusedAlgorithm(algos) if fused else algos[0]
    step = make_step(stepper, cfgs[0], device)
    samplers = [BatchSampler(data.train, c.batch_size, seed=c.seed + 1, device=device) for c in cfgs]
    per_step = algos[0].real_batches_per_step

    def batch():
        return torch.stack([s.next() for s in samplers]) if fused else samplers[0].next(per_step)

    batches = [batch() for _ in range(WARMUP + iters)]
    with algos[0].precision():
        timed(step, batches[:WARMUP], device)
        return n * iters / timed(step, batches[WARMUP:], device)


def worker(args) -> None:
    """One trial in its own process: warm up, wait for the others at the barrier, time, print."""
    device = torch.device(args.device)
    torch.set_num_threads(1)                       # as a sweep's trial with cpus: 1
    data = colormnist_shaped_data() if args.dataset == "colormnist" else random_images(args.dataset)
    folder = Path(args.barrier)
    (folder / f"ready-{args.worker}").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)
    variant = VARIANTS[args.variant]
    rate = trial_rate(1, False, variant, data, args.iters, device, args.width, args.model, args.dataset)
    print(f"RATE {rate:.6f}", flush=True)


def packed_processes_rate(n: int, variant: str, iters: int, device, width: float, cudnn_benchmark: bool,
                          model: str = "alphagan", dataset: str = "colormnist") -> float:
    """Aggregate iterations per second of ``n`` one-trial processes timed together on one device."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, __file__, "--worker", "0", "--barrier", folder, "--device", str(device),
                   "--iters", str(iters), "--width", str(width), "--variant", variant, "--model", model,
                   "--dataset", dataset]
        command += ["--cudnn-benchmark" if cudnn_benchmark else "--no-cudnn-benchmark"]
        procs = []
        for k in range(n):
            command[3] = str(k)
            procs.append(subprocess.Popen(list(command), stdout=subprocess.PIPE, text=True))
        while len(list(Path(folder).glob("ready-*"))) < n:
            if any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.05)
        (Path(folder) / "go").touch()
        rates = []
        for p in procs:
            out, _ = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"a benchmark worker failed (exit {p.returncode})")
            rates.append(float(out.strip().splitlines()[-1].split()[1]))
    return sum(rates)


def main() -> None:
    parser = step_arguments(__doc__)
    parser.add_argument("--one-trial", action=argparse.BooleanOptionalAction, default=True,
                        help="the one-trial rows (fp32, the baseline of the ratios, and each other setting)")
    parser.add_argument("--trials", type=int, nargs="*", default=[8, 16, 32], help="fused model sizes")
    parser.add_argument("--processes", type=int, nargs="*", default=[8], help="one-trial processes on one device")
    parser.add_argument("--models", nargs="*", default=MODELS, help="models whose step to compare with plain eager")
    parser.add_argument("--process-variants", nargs="+", default=["fp32", "CUDA graphs"], choices=VARIANTS,
                        help="the one-trial processes' settings, a row each")
    parser.add_argument("--grid-rates", type=int, metavar="N",
                        help="also N one-trial processes of each model on each paper dataset, to rates.json")
    parser.add_argument("--grid-datasets", nargs="+", default=list(PAPER_DATASETS), choices=PAPER_DATASETS,
                        help="the datasets of --grid-rates")
    parser.add_argument("--grid-variant", default="CUDA graphs", choices=VARIANTS,
                        help="the settings of the --grid-rates processes (a sweep's GPU default: CUDA graphs)")
    parser.add_argument("--cudnn-benchmark", action=argparse.BooleanOptionalAction, default=True,
                        help="cuDNN times its convolution algorithms per shape, as the trainer does on CUDA "
                             "(cudnn_benchmark: true, the default)")
    parser.add_argument("--out", type=Path, help="write the table here (Markdown)")
    parser.add_argument("--variant", default="fp32", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--model", default="alphagan", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", default="colormnist", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--barrier", help=argparse.SUPPRESS)
    parser.set_defaults(iters=50)
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.worker is not None:
        return worker(args)
    device = torch.device(args.device)
    data = colormnist_shaped_data()
    variants = {k: v for k, v in VARIANTS.items() if device.type == "cuda" or not v.get("cuda_graphs")}
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU"
    flops, _ = iteration_flops("alphagan", width=args.width)           # counted on the CPU
    peaks = " / ".join(H200_PEAK_TFLOPS)
    lines = [f"On {card} ({device}); host: {machine()}. ColorMNIST networks (Tables 3-4, width {args.width:g}, "
             f"latent 50), batch 64, {args.iters} timed iterations after {WARMUP} warm-up; "
             f"cudnn.benchmark {args.cudnn_benchmark}. One α-GAN iteration is {flops / 1e9:.2f} GFLOP "
             "(benchmarks/flops.py); the last column is the rate's TFLOP/s and its share of an H200's dense peak "
             f"({peaks})."]
    if args.models or args.one_trial or args.trials or args.processes:     # the grid stage alone has no rows here
        lines += ["",
                  "| what | trial-it/s (all trials) | vs one trial, fp32 | TFLOP/s (% of FP32 / TF32 / BF16 peak) |",
                  "|---|---:|---:|---:|"]

    def row(text: str, value: float, base: float | None) -> None:
        tflops = value * flops / 1e12
        shares = " / ".join(f"{tflops / peak:.0%}" for peak in H200_PEAK_TFLOPS.values())
        ratio = f"{value / base:.2f}x" if base else ""
        lines.append(f"| {text} | {value:.1f} | {ratio} | {tflops:.3g} ({shares}) |")
        print(lines[-1], flush=True)

    print("\n".join(lines))
    for model in args.models:
        ours, plain, speedup, _ = bench_model(model, data, args.iters, device, args.width)
        lines.append(f"| {model} step: this trainer / plain eager, it/s | {ours:.1f} / {plain:.1f} | "
                     f"{speedup:.2f}x | |")
        print(lines[-1], flush=True)
    base = None
    if args.one_trial:
        base = trial_rate(1, False, VARIANTS["fp32"], data, args.iters, device, args.width)
        row("1 α-GAN trial, fp32 (the baseline: one trial per GPU)", base, None)
        for name, variant in list(variants.items())[1:]:
            row(f"1 α-GAN trial, {name}", trial_rate(1, False, variant, data, args.iters, device, args.width), base)
    for n in args.trials:
        for name, variant in [(k, v) for k, v in variants.items() if not v.get("channels_last")]:   # unfused only
            row(f"{n} trials fused into one model, {name}",
                trial_rate(n, True, variant, data, args.iters, device, args.width), base)
    for n in args.processes:
        for name in [v for v in args.process_variants if v in variants]:
            row(f"{n} one-trial processes sharing the device (fractional GPUs), {name}",
                packed_processes_rate(n, name, args.iters, device, args.width, args.cudnn_benchmark), base)
    if args.grid_rates:
        grid_rates(args, device, card, lines)
    if args.out is not None:
        args.out.write_text("# GPU benchmarks\n\nWritten by `make bench-gpu` (`benchmarks/gpu.py`).\n\n"
                            + "\n".join(lines) + "\n")
        print(f"wrote {args.out}")


def grid_rates(args, device, card: str, lines: list[str]) -> None:
    """N one-trial processes of each model on each paper dataset's networks: the rates from which
    benchmarks/grid_cost.py estimates what each paper grid costs. Written to rates.json beside --out."""
    n, variant = args.grid_rates, args.grid_variant
    lines += ["", f"{n} one-trial processes sharing the device, {variant}, each model on each paper dataset's "
              "networks (random images of its size), trial-it/s:", "",
              "| dataset | " + " | ".join(MODELS) + " |", "|---|" + "---:|" * len(MODELS)]
    rates: dict[str, dict[str, float]] = {}
    for dataset in args.grid_datasets:
        rates[dataset] = {model: packed_processes_rate(n, variant, args.iters, device, args.width,
                                                       args.cudnn_benchmark, model, dataset) for model in MODELS}
        lines.append(f"| {dataset} | " + " | ".join(f"{rates[dataset][m]:.1f}" for m in MODELS) + " |")
        print(lines[-1], flush=True)
    record = dict(card=card, host=machine(), torch=torch.__version__, processes=n, variant=variant,
                  iterations=args.iters, width=args.width, rates=rates)
    path = (args.out.parent if args.out is not None else Path(".")) / "rates.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
