"""The commands the orchestrator asks the user to paste name the `orchestrate` they ran."""

import os
import sys

from orchestrator.wording import command, counted, program


def test_counts_agree_with_their_noun():
    assert (counted(1, "trial"), counted(16, "trial"), counted(0, "trial")) == ("1 trial", "16 trials", "0 trials")


def test_a_pasted_command_runs_the_orchestrate_that_printed_it(tmp_path, monkeypatch):
    """After `make quickstart` (venv not activated) the sweep said `orchestrate analyze ...`, which
    the shell did not find; it now says `.venv/bin/orchestrate analyze ...`."""
    script = tmp_path / ".venv" / "bin" / "orchestrate"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "sweep"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert program() == ".venv/bin/orchestrate"
    assert command("analyze", tmp_path / "my specs" / "q.yaml") == \
        f".venv/bin/orchestrate analyze '{tmp_path}/my specs/q.yaml'"
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}/usr/bin")           # the venv activated
    assert program() == "orchestrate"
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert program() == os.path.relpath(script)                                  # below the working folder
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert program() == str(script)                                              # elsewhere: its whole path
    monkeypatch.setattr(sys, "argv", ["/somewhere/orchestrator/cli.py"])         # python -m orchestrator.cli
    assert program() == "orchestrate"
