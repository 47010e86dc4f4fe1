"""`orchestrate sweep SPEC --dry-run` (orchestrator/dry_run.py): JSON lines when piped, a table of
the settings that vary on a terminal."""

import io
import json
import os
import subprocess
import sys

import yaml

from orchestrator.dry_run import print_trials, trials_table
from orchestrator.sweep_spec import load_sweep_spec

from .sweep_helpers import SMOKE, child_runs


class Terminal(io.StringIO):
    def isatty(self):
        return True


def spec_of(tmp_path, **changes):
    content = yaml.safe_load(SMOKE.read_text())
    for key, value in changes.items():
        content[key] = {**content.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(content))
    return load_sweep_spec(path)


def test_piped_each_trial_is_one_json_object_and_on_a_terminal_a_table_of_what_varies(tmp_path):
    spec = load_sweep_spec(SMOKE)
    piped, terminal = io.StringIO(), Terminal()
    print_trials(spec, piped)
    print_trials(spec, terminal)
    assert [json.loads(line) for line in piped.getvalue().splitlines()] == list(spec.trials)
    shared = len(spec.trials[0]) - 2
    assert terminal.getvalue().splitlines() == [
        "trial  lr_generator  recon_weight_encoder",
        "    0        0.0001                     1",
        "    1        0.0001                    10",
        "    2        0.0005                     1",
        "    3        0.0005                    10",
        f"the other {shared} settings are the same in every trial; piped (e.g. | jq), --dry-run prints each "
        "trial's settings as JSON lines",
    ]


def test_fused_trials_are_numbered_as_their_runs_and_optuna_numbers_its_values(tmp_path):
    """A fused member's run is the Ray Tune trial's name and _member (trial_runner.py)."""
    fused = trials_table(spec_of(tmp_path, resources={"fuse_trials": 3}, seeds=[0, 1])).splitlines()
    assert fused[0].split() == ["trial", "lr_generator", "recon_weight_encoder", "seed"]   # the grid's first
    assert [line.split()[0] for line in fused[1:-1]] == ["0_0", "0_1", "0_2", "1_0", "1_1", "1_2", "2_0", "2_1"]
    assert fused[1].split() == ["0_0", "0.0001", "1", "0"] and fused[-2].split() == ["2_1", "0.0005", "10", "1"]
    tuned = trials_table(spec_of(tmp_path, search="optuna", num_samples=9, metric="critic_neg_w_test"))
    assert tuned.splitlines()[0].split()[0] == "values" and len(tuned.splitlines()) == 6


def test_the_command_on_a_real_terminal_prints_the_table(tmp_path):
    controller, terminal = os.openpty()
    try:
        out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(SMOKE), "--dry-run"],
                             stdout=terminal, stderr=subprocess.PIPE, text=True, timeout=120)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:                          # the terminal's other side closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert out.returncode == 0, out.stderr
    lines = shown.decode().splitlines()
    assert lines[0].split() == ["trial", "lr_generator", "recon_weight_encoder"] and len(lines) == 6, lines
    assert out.stderr.strip() == "smoke: 4 trials; their checkpoints need about 171.8 MiB on --storage"


def test_the_tables_numbers_are_the_sweeps_run_names(smoke_sweep):
    """Row N of the table is the trial whose Ray Tune and MLflow run names end in _0000N."""
    storage, sweep, _ = smoke_sweep
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    rows = trials_table(load_sweep_spec(SMOKE)).splitlines()[1:-1]
    _, _, children = child_runs(storage, "smoke")
    by_number = {int(run.info.run_name.rsplit("_", 1)[1]): run.data.params for run in children}
    assert len(by_number) == len(rows) == 4
    for row in rows:
        number, lr_generator, recon_weight_encoder = row.split()
        params = by_number[int(number)]
        assert float(params["lr_generator"]) == float(lr_generator)
        assert float(params["recon_weight_encoder"]) == float(recon_weight_encoder)
