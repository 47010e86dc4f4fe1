"""`make wheelhouse`: the wheels a sweep needs beyond PyTorch (Ray, MLflow, Optuna and what they
need), for one Python version on Linux x86-64, to install on a GPU machine with no package index
(an air-gapped lab machine, or a lent one that has PyTorch and nothing else).

    python docker/wheelhouse.py --python-version 3.12 --out wheelhouse [--have have.txt]

- The versions are the image's (docker/requirements.txt), so every Ray node runs the same Ray.
- ``--have FILE``: package names (one per line, ``name`` or ``name==version``; ``pip list
  --format=freeze`` on the target writes one) the target already has; their wheels are left out.
- Ray's wheel is repacked slim: it leaves out ``ray/jars`` (Ray's Java workers; about 31 MiB of
  the 75), ``ray/rllib``, ``ray/serve``, ``ray/llm`` and ``ray/dashboard/client`` (the dashboard's
  web pages), and its binaries (the GCS server, the raylet, ``_raylet.so``) are stripped of their
  symbol tables (``strip --strip-unneeded``: what runs and links stays; crash backtraces lose
  function names). A sweep runs Python workers only, imports none of those libraries (Ray Tune
  and Ray Train's base do not) and starts its local Ray without the dashboard; the wheel's RECORD
  is rewritten to match, so pip installs it as usual. A Ray head that takes Jobs needs the full
  ``ray[default]`` (the image has it).
- Fails (exit 1) when the wheels weigh more than ``--limit-mib`` (64: what travels to a lent GPU
  machine in one call).

Install from it offline: ``pip install --no-index --find-links wheelhouse -r wheelhouse/requirements.txt``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what a sweep on one GPU machine imports: Ray Tune (no dashboard: the sweep starts its own Ray),
# MLflow's client and its SQLite store (mlflow-skinny with SQLAlchemy and Alembic: the whole
# `mlflow` adds the UI server and its needs), Optuna; at the versions the image pins
WANTED = {"ray": "ray[tune]", "mlflow": "mlflow-skinny", "optuna": "optuna", "sqlalchemy": "sqlalchemy",
          "alembic": "alembic"}
SLIM_RAY_LEAVES_OUT = ("ray/jars/", "ray/rllib/", "ray/serve/", "ray/llm/", "ray/dashboard/client/")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_24_x86_64", "manylinux_2_28_x86_64",
             "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "linux_x86_64")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements() -> list[str]:
    """WANTED at the image's versions, e.g. ``ray[tune]==2.60.0``."""
    versions = {}
    for line in (ROOT / "docker" / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            versions[normalize(re.split(r"[\[=<>]", line)[0])] = line.split("==")[1]
    from importlib.metadata import version

    return [f"{requirement}=={versions.get(name) or version(name)}" for name, requirement in WANTED.items()]


def wheel_project(path: Path) -> str:
    return normalize(path.name.split("-")[0])


def record_entry(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def stripped(data: bytes) -> bytes:
    """An ELF binary without its symbol table (``strip --strip-unneeded``: what it needs to run and
    to be linked against stays); unchanged where ``strip`` is missing or refuses."""
    if not data.startswith(b"\x7fELF") or shutil.which("strip") is None:
        return data
    with tempfile.NamedTemporaryFile(delete=False) as handle:
        handle.write(data)
    try:
        done = subprocess.run(["strip", "--strip-unneeded", handle.name], capture_output=True)
        return Path(handle.name).read_bytes() if done.returncode == 0 else data
    finally:
        Path(handle.name).unlink()


def slim_wheel(wheel: Path, leave_out: tuple[str, ...] = SLIM_RAY_LEAVES_OUT, strip: bool = True) -> int:
    """Rewrite ``wheel`` without the members under ``leave_out``, its ELF binaries stripped of
    their symbol tables (``strip``), and its RECORD rewritten to match; returns the bytes saved."""
    before = wheel.stat().st_size
    tmp = wheel.with_suffix(".slim")
    with zipfile.ZipFile(wheel) as source:
        members = {i.filename: i for i in source.infolist() if not i.filename.startswith(leave_out)}
        contents = {name: source.read(name) for name in members}
    if strip:
        contents = {name: stripped(data) if name.endswith((".so", "gcs_server", "raylet")) else data
                    for name, data in contents.items()}
    record = next(name for name in contents if name.endswith(".dist-info/RECORD"))
    contents[record] = ("\n".join([record_entry(name, data) for name, data in contents.items() if name != record]
                                  + [f"{record},,"]) + "\n").encode()
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in contents.items():
            target.writestr(members[name], data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    tmp.replace(wheel)
    return before - wheel.stat().st_size


def download(requirements: list[str], python_version: str, folder: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version",
               python_version, "--implementation", "cp", "--dest", str(folder)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    out = subprocess.run(command + requirements, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"wheelhouse: pip download failed:\n{out.stderr[-3000:]}")


def read_have(path: Path | None) -> set[str]:
    if path is None:
        return set()
    return {normalize(re.split(r"[=<>\[ ;@]", line.strip())[0]) for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def build(python_version: str, out: Path, have: set[str], limit_mib: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    requirements = pinned_requirements()
    with tempfile.TemporaryDirectory() as folder:
        download(requirements, python_version, Path(folder))
        kept = []
        for wheel in sorted(Path(folder).glob("*.whl")):
            if wheel_project(wheel) in have or wheel_project(wheel) in ("torch", "torchvision"):
                continue
            shutil.copy2(wheel, out / wheel.name)
            kept.append(out / wheel.name)
    for wheel in kept:
        if wheel_project(wheel) == "ray":
            saved = slim_wheel(wheel)
            print(f"{wheel.name}: repacked slim, {saved / 2**20:.1f} MiB left out ({', '.join(SLIM_RAY_LEAVES_OUT)})")
    (out / "requirements.txt").write_text("\n".join(requirements) + "\n")
    total = sum(w.stat().st_size for w in kept) / 2**20
    for wheel in sorted(kept, key=lambda w: -w.stat().st_size)[:8]:
        print(f"{wheel.stat().st_size / 2**20:7.1f} MiB  {wheel.name}")
    print(f"{len(kept)} wheels for Python {python_version}, {total:.1f} MiB in {out} (limit {limit_mib:g} MiB); "
          f"install offline: pip install --no-index --find-links {out} -r {out / 'requirements.txt'}")
    return 0 if total <= limit_mib else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python-version", default=f"{sys.version_info.major}.{sys.version_info.minor}")
    parser.add_argument("--out", type=Path, default=Path("wheelhouse"))
    parser.add_argument("--have", type=Path, help="names of packages the target already has, one per line")
    parser.add_argument("--limit-mib", type=float, default=64.0)
    args = parser.parse_args()
    return build(args.python_version, args.out, read_have(args.have), args.limit_mib)


if __name__ == "__main__":
    sys.exit(main())
