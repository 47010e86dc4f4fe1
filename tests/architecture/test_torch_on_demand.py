"""torch is imported by what trains or evaluates, not by every `orchestrate` command: a bad spec,
`orchestrate analyze` and the headline command without its data answer in about 2 s less on 2
cores (torch's import). The trainer's packages export their names on first use
(trainer/lazy_exports.py); these tests run each command in a fresh interpreter and read its
``sys.modules``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

RUN = """
import sys
from orchestrator.cli import main
code = main(sys.argv[1:])
print("exit", code, "torch imported" if "torch" in sys.modules else "no torch")
"""


def command(*args) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", RUN, *map(str, args)], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    return out.stdout.strip().splitlines()[-1], out.stderr


@pytest.mark.parametrize("case", ["bad spec", "analyze", "celeba without data"])
def test_commands_that_train_nothing_import_no_torch(tmp_path, case):
    if case == "bad spec":
        spec = tmp_path / "bad.yaml"
        spec.write_text("name: bad\ntrial: {model: alphagan, datset: digits}\n")
        said, stderr = command("sweep", spec, "--storage", tmp_path / "store")
        assert "unknown hyperparameter 'datset' (did you mean 'dataset'?)" in stderr
    elif case == "analyze":
        said, stderr = command("analyze", "nosuch", "--storage", tmp_path, "--no-log")
        assert "no MLflow store in" in stderr
    else:
        said, stderr = command("sweep", REPO / "search_spaces" / "celeba_alphagan.yaml", "--storage",
                               tmp_path / "store", "--data-root", tmp_path)
        assert "CelebA not found" in stderr
    assert said == "exit 2 no torch", stderr


def test_the_trainers_names_still_import_as_before():
    """The public API (docs/trainer.md) and the error classes, each defined once."""
    out = subprocess.run([sys.executable, "-c", """
import sys
import trainer
from trainer import ConfigError, DatasetError, TrialConfig, INTERRUPTED
from trainer.data import check_batch_size, split_sizes
assert "torch" not in sys.modules, "a name that needs no torch imported it"
from trainer import build_algorithm, load_dataset, train, ImageDataset, Report
from trainer.data import BatchSampler, DatasetError as D
from trainer.metrics import IndependentCritic, MetricsError
from trainer.checkpoint import CheckpointError
import trainer.errors as errors
assert (D, MetricsError, CheckpointError) == (errors.DatasetError, errors.MetricsError, errors.CheckpointError)
assert trainer.train is train and "torch" in sys.modules
try:
    trainer.nosuch
except AttributeError as err:
    print(err)
"""], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "module 'trainer' has no attribute 'nosuch'"
