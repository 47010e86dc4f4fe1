"""docker/slurm-sweep.sbatch, run the way Slurm runs it (bash, its own process group): the first
job starts the sweep and is stopped as `scancel` or the time limit stops it, every process of the
job signalled, here with Ray's GCS gone first (the driver waited on it, and 60 s later Ray ended it
with "Failed to connect to GCS" and exit code 1, without the line that says how to resume); the
next job resumes the sweep to the end, and a job submitted after the end finds it done. The gcs_server
being the script's own child also shows that `exec` made the script's process the driver, which
gets Slurm's early SIGTERM (--signal=B:TERM). Slurm's #SBATCH lines are comments to bash."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.orchestrator.sweep_helpers import (
    a_trial_finished,
    assert_all_finished_once,
    assert_marked_interrupted,
    children_named,
    finished_reports,
    spec_file,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "slurm-sweep.sbatch"

pytestmark = pytest.mark.slow


def job(tmp_path, spec, storage):
    """One batch job: the script with the project's command (ORCHESTRATE), as `sbatch` starts it."""
    orchestrate = tmp_path / "orchestrate"
    orchestrate.write_text(f"#!/bin/sh\nexec {sys.executable} -m orchestrator.cli \"$@\"\n")
    orchestrate.chmod(0o755)
    env = {**os.environ, "ORCHESTRATE": str(orchestrate), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(["bash", str(SCRIPT), str(spec), str(storage)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def test_the_batch_script_starts_resumes_and_finds_the_sweep_done(tmp_path):
    spec, storage = spec_file(tmp_path, "batch", max_iter=40), tmp_path / "sweeps"
    first = job(tmp_path, spec, storage)
    try:
        finished = a_trial_finished(storage, "batch")
        while not finished() and first.poll() is None:
            subprocess.run(["sleep", "0.5"])
        assert first.poll() is None, first.communicate()
        gcs = children_named(first.pid, "gcs_server")     # the batch shell's own: exec made it the driver
        assert len(gcs) == 1, gcs
        stopped = time.monotonic()
        first.send_signal(signal.SIGTERM)
        os.kill(gcs[0], signal.SIGKILL)
        _, stderr = first.communicate(timeout=120)
        took = time.monotonic() - stopped
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130 and took < 20, (took, stderr[-3000:])
    assert "Failed to connect to GCS" not in stderr and "Traceback" not in stderr, stderr[-3000:]
    last = stderr.rstrip().splitlines()[-1]
    assert last.startswith("sweep batch interrupted, and Ray's processes with it") and last.endswith(
        f" sweep {spec} --resume --storage {storage}") and "; continue with " in last, last
    done_before = finished_reports(storage, "batch")
    assert 1 <= len(done_before) < 4
    assert_marked_interrupted(storage, "batch")                 # by the driver, before its last line

    assert stderr.startswith("sweep batch: 4 trials on CPUs"), stderr[:300]
    second = job(tmp_path, spec, storage)
    _, stderr = second.communicate(timeout=900)
    assert second.returncode == 0, stderr[-3000:]
    assert stderr.startswith("sweep batch (resumed): 4 trials on CPUs"), stderr[:300]
    assert "sweep batch: 4 finished, 0 diverged, 0 stopped early, 0 failed" in stderr
    assert_all_finished_once(storage, "batch", 4, 40, done_before)

    third = job(tmp_path, spec, storage)                   # requeued after the end: nothing to train
    _, stderr = third.communicate(timeout=300)
    assert third.returncode == 0, stderr[-3000:]
    assert stderr.startswith("sweep batch: every trial had ended; nothing to resume (Ray not started)"), stderr
    assert "sweep batch: 4 finished, 0 diverged, 0 stopped early, 0 failed" in stderr
    assert_all_finished_once(storage, "batch", 4, 40, finished_reports(storage, "batch"))


def test_resume_if_started_goes_to_the_cluster_with_a_submitted_sweep():
    from orchestrator.job_submission import JobRequest

    request = JobRequest(storage="/s", tracking_uri=None, data_root=None, resume=False, verbose=False,
                         resume_if_started=True)
    assert request.entrypoint("x.yaml").endswith("--storage /s --resume-if-started")
