"""One driver per sweep, one `orchestrate trial` per folder: the lock says who holds it, refuses a
second process in one line, and is gone with its holder however that ends (no stale lock after a
kill -9)."""

import os
import socket
import subprocess
import sys
import time

import pytest

from orchestrator import layout
from orchestrator.errors import UsageError
from orchestrator.process_locks import driver_lock

HOLD = """
import sys, time
from pathlib import Path
from orchestrator.process_locks import driver_lock
with driver_lock(Path(sys.argv[1]), "grid"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_driver_is_refused_and_told_who_holds_the_sweep(tmp_path):
    with driver_lock(tmp_path / "storage", "grid"):
        with pytest.raises(UsageError) as refused:
            with driver_lock(tmp_path / "storage", "grid"):
                pass
        with driver_lock(tmp_path / "storage", "other"):          # another sweep in the same storage
            pass
    message = str(refused.value)
    assert message.startswith(f"sweep 'grid' in {tmp_path / 'storage'} is being run by another driver "
                              f"(pid {os.getpid()} on {socket.gethostname()}, since ")
    assert "stop it (Ctrl-C there, or ray job stop) before you resume it" in message
    with driver_lock(tmp_path / "storage", "grid"):                # released at the end of the block
        pass


def test_a_killed_driver_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=f"being run by another driver \\(pid {holder.pid} on "):
            with driver_lock(tmp_path, "grid"):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    started = time.time()
    with driver_lock(tmp_path, "grid"):
        assert f"pid {os.getpid()} " in layout.driver_lock_path(tmp_path, "grid").read_text()
    assert time.time() - started < 5


def test_orchestrate_sweep_of_a_sweep_another_driver_runs_is_one_line_and_starts_nothing(tmp_path):
    from .sweep_helpers import SMOKE, sweep_command

    with driver_lock(tmp_path, "smoke"):
        out = subprocess.run(sweep_command(SMOKE, tmp_path), capture_output=True, text=True, timeout=300)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-3000:]
    assert lines[0].startswith(f"orchestrate sweep: error: sweep 'smoke' in {tmp_path} is being run by another "
                               f"driver (pid {os.getpid()} on ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smoke.driver.lock"]    # no MLflow store, no state


def test_a_file_system_without_locks_gives_a_warning_not_a_traceback(tmp_path, monkeypatch, capsys):
    import errno
    import fcntl

    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    ran = []
    with driver_lock(tmp_path, "grid"):
        ran.append(True)
    assert ran == [True]
    assert capsys.readouterr().err == (f"warning: cannot lock {tmp_path / 'grid.driver.lock'} (No locks available); "
                                       "make sure no other driver runs sweep 'grid'\n")


def test_a_second_orchestrate_trial_into_the_same_folder_is_one_line_and_writes_nothing(tmp_path):
    """Both trained the same trial, each overwriting the other's checkpoint.pt and status.json."""
    from orchestrator.process_locks import trial_lock

    out = tmp_path / "run"
    out.mkdir()
    with trial_lock(out):
        second = subprocess.run([sys.executable, "-m", "orchestrator.cli", "trial", "--set", "dataset=synthetic",
                                 "--set", "width=0.125", "--set", "max_iter=2", "--out", str(out)],
                                capture_output=True, text=True, timeout=300)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1, second.stderr[-3000:]
    assert lines[0].startswith(f"orchestrate trial: error: {out} is being trained by another `orchestrate trial` "
                               f"(pid {os.getpid()} on {socket.gethostname()}, since ")
    assert lines[0].endswith("let it finish, or stop it (Ctrl-C there) before you resume it")
    assert sorted(p.name for p in out.iterdir()) == [layout.TRIAL_LOCK]      # no config.yaml, no checkpoint
