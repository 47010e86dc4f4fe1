"""Host memory of N trials on one node that read the same CelebA-layout dataset.

Writes a synthetic CelebA folder of real-size JPEGs (benchmarks/celeba_like.py), builds the
dataset cache once, then starts N processes that each load the dataset as a trial does
(trainer.load_dataset), sample a whole epoch from it on the CPU (BatchSampler), and, while all N
are alive, read their memory from /proc/<pid>/smaps_rollup: RSS, PSS (shared pages divided among
the processes that map them) and private memory. The sum of PSS over the N processes is what
they cost the machine together. --code points at another checkout (e.g. the commit before the
shared cache) to measure it the same way.

    python benchmarks/dataset_memory.py --images 4000 --trials 8
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_IMAGES = 80                                     # CelebA's split is 80/10/10; the trials sample batches of 64

TRIAL = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import torch
    from trainer.data import BatchSampler, load_dataset
    data = load_dataset("celeba", sys.argv[1], log=lambda m: None)
    sampler = BatchSampler(data.train, 64, seed=int(sys.argv[2]), device=torch.device("cpu"))
    for _ in range(len(data.train) // 64 + 1):      # a whole epoch: every image read once
        sampler.next()
    Path(sys.argv[3]).touch()
    while not Path(sys.argv[4]).exists():           # stay alive until every trial is measured
        time.sleep(0.05)
""")


def rollup(pid: int) -> dict[str, int]:
    """kB figures of /proc/<pid>/smaps_rollup."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        values[key] = int(value.split()[0])
    return values


def measure(code: Path, data_root: Path, trials: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dataset-memory-") as work:
        return measure_in(Path(work), code, data_root, trials)


def measure_in(work: Path, code: Path, data_root: Path, trials: int) -> dict[str, float]:
    # run in an empty folder: `python -c` puts the working folder first on sys.path, before PYTHONPATH
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1",
           "ALPHAGAN_CACHE": os.environ.get("ALPHAGAN_CACHE", str(work / "cache"))}
    # the cache is built once before the trials start, as the first trial of a sweep does
    subprocess.run([sys.executable, "-c", "import sys; from trainer.data import load_dataset; "
                    "load_dataset('celeba', sys.argv[1], log=lambda m: None)", str(data_root)],
                   env=env, check=True, capture_output=True, cwd=work)
    release = work / "release"
    procs = [subprocess.Popen([sys.executable, "-c", TRIAL, str(data_root), str(i), str(work / f"ready{i}"),
                               str(release)], env=env, cwd=work) for i in range(trials)]
    try:
        while not all((work / f"ready{i}").exists() for i in range(trials)):
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a trial process failed")
            time.sleep(0.1)
        figures = [rollup(p.pid) for p in procs]
    finally:
        release.touch()
        for p in procs:
            p.wait(60)
    mib = 1024
    return {"rss_mib": sum(f["Rss"] for f in figures) / mib, "pss_mib": sum(f["Pss"] for f in figures) / mib,
            "private_mib": sum(f["Private_Clean"] + f["Private_Dirty"] for f in figures) / mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4000,
                        help=f"synthetic CelebA images (at least {MIN_IMAGES}: 80 %% of them train, a batch is 64)")
    parser.add_argument("--trials", type=int, default=8, help="trial processes reading the dataset at once")
    parser.add_argument("--code", action="append", type=Path,
                        help="checkout(s) to measure (default: this one); give --code twice to compare")
    args = parser.parse_args()
    if args.images < MIN_IMAGES:
        parser.error(f"--images {args.images}: the training split (80 %) must hold a batch of 64; give at least "
                     f"{MIN_IMAGES}")
    sys.path.insert(0, str(HERE))
    from celeba_like import write_celeba_like

    with tempfile.TemporaryDirectory(prefix="celeba-like-") as data_root:
        write_celeba_like(Path(data_root), args.images)
        report(args, Path(data_root))


def report(args: argparse.Namespace, data_root: Path) -> None:
    dataset_mib = args.images * 3 * 64 * 64 / 2**20
    print(f"{args.trials} trials, {args.images:,} CelebA-size JPEGs -> {dataset_mib:.0f} MiB of 64x64 uint8 "
          f"(CelebA's 202,599 faces: {202_599 * 3 * 64 * 64 / 2**30:.1f} GiB)\n")
    print("| code | RSS summed | PSS summed (what the node pays) | private summed |")
    print("|---|---:|---:|---:|")
    for code in args.code or [HERE.parent]:
        row = measure(code.resolve(), data_root, args.trials)
        print(f"| {code} | {row['rss_mib']:,.0f} MiB | {row['pss_mib']:,.0f} MiB | {row['private_mib']:,.0f} MiB |",
              flush=True)


if __name__ == "__main__":
    main()
