"""`orchestrate trial` as a user runs it: a real process, real files, Ctrl-C, reruns."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from trainer import TrialConfig

REPO = Path(__file__).resolve().parents[2]
TINY = dict(model="alphagan", dataset="synthetic", device="cpu", width=0.125, batch_size=16,
            latent_dim=8, report_every=5)


def orchestrate(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, **kwargs)


def spec(tmp_path, **values):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"name": "tiny", "trial": {**TINY, **values}}))
    return path


def test_help_documents_every_option():
    out = orchestrate("trial", "--help")
    assert out.returncode == 0
    for option in ("--set", "--data-root", "--out", "--device", "--no-progress"):
        assert option in out.stdout
    for name in TrialConfig.field_names():
        assert name in out.stdout


def test_trial_writes_checkpoint_grids_and_is_not_rerun(tmp_path):
    out_dir = tmp_path / "out"
    first = orchestrate("trial", spec(tmp_path, max_iter=10), "--set", "seed=3", "--out", out_dir)
    assert first.returncode == 0, first.stderr
    assert "\nfinished 10 iterations" in first.stderr
    assert (out_dir / "checkpoint.pt").is_file()
    assert json.loads((out_dir / "status.json").read_text())["status"] == "finished"
    assert yaml.safe_load((out_dir / "config.yaml").read_text())["seed"] == 3
    assert {p.name for p in (out_dir / "samples").iterdir()} == {
        "samples_0000005.png", "samples_0000010.png",
        "reconstructions_0000005.png", "reconstructions_0000010.png"}
    again = orchestrate("trial", spec(tmp_path, max_iter=10), "--set", "seed=3", "--out", out_dir)
    assert again.returncode == 0 and "already finished" in again.stderr
    further = orchestrate("trial", spec(tmp_path, max_iter=10), "--set", "seed=3", "--set", "max_iter=15",
                          "--out", out_dir)
    assert further.returncode == 0 and "\nfinished 15 iterations" in further.stderr, further.stderr
    assert yaml.safe_load((out_dir / "config.yaml").read_text())["max_iter"] == 15
    assert (out_dir / "samples" / "samples_0000015.png").is_file()


def error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    return lines[0]


def test_the_readme_command_runs_a_sweep_specs_trial_section(tmp_path):
    """README: `orchestrate trial search_spaces/quickstart.yaml`: a sweep spec, with sections
    only a sweep uses (resources, independent_critic, max_failures) and no grid, so no note."""
    out_dir = tmp_path / "q"
    result = orchestrate("trial", "search_spaces/quickstart.yaml", "--set", "max_iter=2", "--set", "report_every=2",
                         "--out", out_dir, "--no-progress", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "\nfinished 2 iterations" in result.stderr and "varied by the sweep" not in result.stderr
    config = yaml.safe_load((out_dir / "config.yaml").read_text())
    assert (config["latent_dim"], config["width"], config["max_iter"]) == (10, 0.25, 2)


def test_a_grid_spec_says_which_varied_hyperparameters_the_trial_leaves_to_defaults(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"name": "g", "trial": {**TINY, "max_iter": 1}, "seeds": [0, 1],
                                    "grid": {"lr_generator": [1e-4, 5e-4], "latent_dim": [4, 8]},
                                    "resources": {"cpus": 1}}))
    result = orchestrate("trial", path, "--set", "latent_dim=4", "--out", tmp_path / "o", "--no-progress")
    assert result.returncode == 0, result.stderr
    note = next(line for line in result.stderr.splitlines() if "varied by the sweep" in line)
    assert "lr_generator, seed (varied by the sweep) take that section's values or their defaults: choose " \
           "them with --set" in note and "latent_dim" not in note
    assert yaml.safe_load((tmp_path / "o" / "config.yaml").read_text())["latent_dim"] == 4
    one = orchestrate("trial", path, "--set", "latent_dim=4", "--set", "seed=1", "--out", tmp_path / "o1",
                      "--no-progress")
    assert one.returncode == 0, one.stderr
    assert ("; lr_generator (varied by the sweep) takes that section's value or its default: choose it with "
            "--set KEY=VALUE") in one.stderr


def test_an_output_folder_that_cannot_be_written_is_one_line_before_training(tmp_path):
    line = error_line(orchestrate("trial", spec(tmp_path, max_iter=10), "--out", "/proc/alphagan-trial"))
    assert line == ("orchestrate trial: error: --out /proc/alphagan-trial cannot be created in /proc "
                    "(No such file or directory); pass a folder you can write")


def test_out_of_memory_is_one_line_that_says_what_to_lower(tmp_path):
    """A network too big for the machine's memory was PyTorch's allocator traceback (on a GPU,
    CUDA's out-of-memory message over several lines). 10^12 latent units need a 1.4 PiB weight:
    more than a 64-bit machine's address space (128 TiB), so the allocation fails everywhere."""
    result = orchestrate("trial", spec(tmp_path, latent_dim=10**12), "--out", tmp_path / "o")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"orchestrate trial: error: out of memory on cpu (tried to allocate 1.4 PiB): lower batch_size, width "
        f"or latent_dim; any checkpoint in {tmp_path / 'o'} is kept")


FULL_DISK_SCRIPT = """
mount -t tmpfs -o size=256m tmpfs "$DISK" || exit 1
fill() { dd if=/dev/zero of="$DISK/filler$1" bs=1k 2>/dev/null; }
cli() { log="$LOGS/$1.txt"; shift; "$PYTHON" -m orchestrator.cli "$@" >"$log" 2>&1; echo "rc=$?" >>"$log"; }
trial() { cli "$1" trial "$SPEC" --out "$DISK/o" --no-progress --set max_iter="$2"; }
trial first 5
ALPHAGAN_CACHE="$DISK/cache" cli classifier classifier train --dataset colormnist --data-root "$DATA" --steps 1
fill 1; truncate -s -2M "$DISK/filler1"
trial full 10
ls -a "$DISK/o" "$DISK/o/samples" >"$LOGS/files.txt"
fill 2
cli evaluate evaluate "$DISK/o" --samples 100 --critic-steps 5
ALPHAGAN_CACHE="$DISK/cache" cli classifier_again classifier train --dataset colormnist --data-root "$DATA" --steps 1
ALPHAGAN_CACHE="$DISK/cache2" cli data_cache trial --set dataset=colormnist --data-root "$DATA" --out "$DISK/c"
rm "$DISK/filler1" "$DISK/filler2"
trial freed 10
"""


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_same_command_resumes_once_there_is_space(tmp_path, shared_data):
    """A disk that filled was a traceback: torch.save's (PIL's at a grid) in a trial, after which a
    half-written checkpoint.pt.tmp (or PNG) was left taking space; evaluate's, after its figures,
    at its metrics.json; classifier train's, at the classifier; and numpy's, building the dataset
    cache. The disk is a real 256 MiB tmpfs, mounted in a mount namespace of its own (root only;
    CI runs as root)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        if os.environ.get("CI"):
            pytest.fail("the full-disk test needs root and util-linux's unshare")
        pytest.skip("needs root and util-linux's unshare to mount a small tmpfs")
    disk, logs, out = tmp_path / "disk", tmp_path / "logs", tmp_path / "disk" / "o"
    disk.mkdir()
    logs.mkdir()
    env = {**os.environ, "DISK": str(disk), "LOGS": str(logs), "PYTHON": sys.executable, "DATA": str(shared_data),
           "SPEC": str(spec(tmp_path, checkpoint_every=5))}
    done = subprocess.run(["unshare", "--mount", "sh", "-c", FULL_DISK_SCRIPT], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    log = {path.stem: path.read_text() for path in logs.glob("*.txt")}
    for name in ("first", "classifier"):
        assert log[name].endswith("rc=0\n"), log[name]

    def error(name):
        assert "Traceback" not in log[name] and log[name].endswith("rc=2\n"), log[name]
        return log[name].splitlines()[-2]
    full = error("full")
    assert full.startswith(f"orchestrate trial: error: the disk of --out {out} is full (No space left on device; ")
    assert full.endswith(f"free): free space there or pass another --out; any checkpoint in {out} is kept: run "
                         "the same command again to resume from it")
    files = log["files"].split()
    # 2 MiB were left: the grids of iteration 10 fit, its checkpoint (7 MiB) did not
    assert "samples_0000010.png" in files and "checkpoint.pt" in files, files
    assert not [name for name in files if name.endswith(".tmp")], files
    assert "sample_diversity" in log["evaluate"] and error("evaluate") == (
        f"orchestrate evaluate: error: the disk of --out {out} is full (No space left on device; 0 bytes free): "
        "free space there or pass another --out; the figures are in the table above")
    assert error("classifier_again") == ("orchestrate classifier: error: a disk is full (No space left on device): "
                                         "free space on it and run the same command again")
    cache = error("data_cache")
    assert cache.startswith(f"orchestrate trial: error: the dataset cache {disk}/cache2/colormnist-")
    assert "needs 181.3 MiB, but its disk has 0 bytes free: free space there, or set ALPHAGAN_CACHE" in cache
    freed = log["freed"]
    assert "resuming alphagan on synthetic from iteration 5" in freed and freed.endswith("rc=0\n"), freed
    assert "\nfinished 10 iterations" in freed


def test_unknown_hyperparameter_is_one_clear_line(tmp_path):
    line = error_line(orchestrate("trial", spec(tmp_path), "--set", "lr_gen=1e-4", "--out", tmp_path / "o"))
    assert line.startswith("orchestrate trial: error: ")
    assert "unknown hyperparameter 'lr_gen' (did you mean 'lr_generator'?)" in line
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_bad_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trial:\n  model: alphagan\n  latent_dim: [10\n")
    line = error_line(orchestrate("trial", bad, "--out", tmp_path / "o"))
    assert str(bad) in line and "invalid YAML" in line


def test_bad_value_names_the_field(tmp_path):
    line = error_line(orchestrate("trial", spec(tmp_path, latent_dim=-3), "--out", tmp_path / "o"))
    assert "latent_dim: must be a positive integer, got -3" in line and "spec.yaml" in line


def test_a_batch_larger_than_the_training_split_is_one_line_before_the_output_folder(tmp_path):
    """It was the sampler's error at the start of training, after --out and its config.yaml were written."""
    line = error_line(orchestrate("trial", spec(tmp_path, batch_size=100_000), "--out", tmp_path / "o"))
    assert line.startswith("orchestrate trial: error: batch_size 100000 is larger than synthetic's training split (")
    assert line.endswith(" images); use a smaller batch_size") and not (tmp_path / "o").exists()


def test_missing_dataset_says_where_to_put_it(tmp_path):
    line = error_line(orchestrate("trial", "--set", "dataset=colormnist", "--data-root", tmp_path,
                                  "--out", tmp_path / "o"))
    assert "MNIST not found under" in line and str(tmp_path / "mnist") in line
    assert not (tmp_path / "o").exists()


def test_ctrl_c_saves_a_checkpoint_and_the_same_command_resumes(tmp_path):
    out_dir = tmp_path / "out"
    args = [sys.executable, "-m", "orchestrator.cli", "trial", str(spec(tmp_path, max_iter=200)),
            "--out", str(out_dir), "--no-progress"]
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out_dir / "samples" / "samples_0000005.png").exists():
        assert time.time() < deadline and process.poll() is None, "trial did not start"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    status = json.loads((out_dir / "status.json").read_text())
    assert status["status"] == "interrupted" and 5 <= status["iteration"] < 200
    assert "run the same command again to resume" in stderr
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming alphagan on synthetic from iteration {status['iteration']:,}" in resumed.stderr
    assert json.loads((out_dir / "status.json").read_text())["status"] == "finished"
