"""The test run's own disk check (tests/disk_room.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import disk_room
from tests.conftest import REPO
from tests.disk_room import check_disk_room


def test_a_disk_with_room_passes(tmp_path):
    check_disk_room(tmp_path, need=1)


def test_a_disk_without_room_is_one_line_naming_the_folder_and_the_fix(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(pytest.UsageError) as raised:
        check_disk_room(tmp_path / "not" / "made", need=free + 2**40)
    message = str(raised.value)
    assert "\n" not in message
    assert str(tmp_path / "not" / "made") in message and "TMPDIR" in message and "free" in message


def test_pytest_stops_before_the_first_test_when_the_disk_is_too_full(tmp_path):
    """The project's conftest checks in pytest_sessionstart: with more room needed than any disk
    has, pytest prints the one line and runs no test (usage error, exit code 4)."""
    script = ("import sys, pytest, tests.disk_room as room; room.NEED_BYTES = 2**60; "
              f"sys.exit(pytest.main(['-p', 'no:cacheprovider', '--basetemp', {str(tmp_path / 'base')!r}, "
              "'tests/test_disk_room.py::test_a_disk_with_room_passes']))")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "ERROR: the tests need about" in output and "TMPDIR" in output, output
    assert "passed" not in output and "Traceback" not in output, output


def test_tmp_is_checked_too_where_the_temporary_folder_is_on_another_disk(monkeypatch):
    """The clusters stay in /tmp whatever TMPDIR says: a TMPDIR on another disk with room does not
    hide a full /tmp. /dev/shm stands for that other disk."""
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == os.stat(disk_room.CLUSTER_TEMP).st_dev:
        pytest.skip("needs /dev/shm on a disk of its own")
    monkeypatch.setattr(disk_room, "NEED_BYTES", 1)
    monkeypatch.setattr(disk_room, "CLUSTER_NEED_BYTES", shutil.disk_usage(disk_room.CLUSTER_TEMP).free + 2**40)
    with pytest.raises(pytest.UsageError) as raised:
        disk_room.check_run_room(other)
    message = str(raised.value)
    assert "\n" not in message and "free on the disk of /tmp (their clusters'" in message, message
    assert message.endswith("mount a larger /tmp"), message
    disk_room.check_run_room(disk_room.CLUSTER_TEMP / "pytest-base")   # the same disk: its one need
