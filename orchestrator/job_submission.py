"""`orchestrate sweep SPEC --address http://HEAD:8265`: the sweep submitted to a Ray cluster as a
Ray job, from a machine that runs no Ray node (a laptop, a login node).

The spec file travels with the job (Ray uploads a folder holding only it as the job's working
directory), the driver runs on the cluster (`orchestrate sweep` there, with the cluster's own
environment: its MLflow credentials and Ray token never pass through this machine's command
line), and this command streams the driver's output. Ctrl-C detaches: the sweep goes on, and the
lines printed say how to follow and stop it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import UsageError
from .sweep_spec import SweepSpec

REACH_TIMEOUT_S = 5.0


def is_job_address(address: str | None) -> bool:
    return bool(address) and address.startswith(("http://", "https://"))


@dataclass(frozen=True)
class JobRequest:
    """What the driver on the cluster is asked to run."""

    storage: str
    tracking_uri: str | None
    data_root: str | None
    resume: bool
    verbose: bool
    resume_if_started: bool = False

    def entrypoint(self, spec_name: str) -> str:
        words = ["orchestrate", "sweep", spec_name, "--address", "auto", "--storage", self.storage]
        for flag, value in (("--tracking-uri", self.tracking_uri), ("--data-root", self.data_root)):
            if value:
                words += [flag, value]
        words += ["--resume"] * self.resume + ["--resume-if-started"] * self.resume_if_started
        words += ["--verbose"] * self.verbose
        return shlex.join(words)


def check_request(request: JobRequest) -> None:
    """The paths a job is given are the cluster's: they must not depend on this machine's folder."""
    if not PurePosixPath(request.storage).is_absolute():
        raise UsageError(f"--storage {request.storage!r}: a sweep submitted to a cluster needs the absolute path "
                         "of a folder every node mounts (e.g. --storage /shared/sweeps)")
    if request.data_root and not PurePosixPath(request.data_root).is_absolute():
        raise UsageError(f"--data-root {request.data_root!r}: give the absolute path of the datasets on the "
                         "cluster's nodes (e.g. --data-root /data)")
    uri = request.tracking_uri or ""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        raise UsageError(f"--tracking-uri {uri!r}: a sweep submitted to a cluster needs a tracking server "
                         "(http://HEAD:5000) or an absolute store path on the cluster (sqlite:////shared/...)")


def check_reachable(address: str) -> str:
    """The Ray version the dashboard at ``address`` answers with; one line if it does not answer
    within a few seconds."""
    url = address.rstrip("/") + "/api/version"
    token = os.environ.get("RAY_AUTH_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=REACH_TIMEOUT_S) as response:
            return json.loads(response.read()).get("ray_version", "?")
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise UsageError(f"the Ray dashboard at {address} refused the request ({err.code}): set "
                             "RAY_AUTH_MODE=token and the cluster's RAY_AUTH_TOKEN in this shell") from None
        raise UsageError(f"{address} answered {err.code} to {url}: is it the Ray dashboard (port 8265)?") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise UsageError(f"cannot reach the Ray dashboard at {address} ({reason}); check the address, that the "
                         "head runs and that port 8265 is open to this machine") from None


def submit_sweep(spec: SweepSpec, address: str, request: JobRequest) -> int:
    """Submit the sweep as a Ray job and stream its output until it ends (its exit status) or
    Ctrl-C (0: detached, the sweep goes on)."""
    check_request(request)
    version = check_reachable(address)
    if not request.verbose:                 # Ray's "Uploading package ..." lines
        import logging

        logging.getLogger("ray").setLevel(logging.WARNING)
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    submission_id = f"sweep-{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with tempfile.TemporaryDirectory(prefix="alphagan-job-") as folder:
        (Path(folder) / spec.path.name).write_bytes(spec.path.read_bytes())
        job = client.submit_job(entrypoint=request.entrypoint(spec.path.name), submission_id=submission_id,
                                runtime_env={"working_dir": folder},
                                metadata={"sweep": spec.name, "storage": request.storage})
    follow = f"ray job logs --follow {job} --address {address}"
    stop = f"ray job stop {job} --address {address}"
    _say(f"sweep {spec.name}: submitted to the Ray cluster at {address} (Ray {version}) as job {job}; "
         "its output follows (Ctrl-C detaches; the sweep goes on)")
    try:
        asyncio.run(_stream(client, job))
    except KeyboardInterrupt:
        _say(f"detached: sweep {spec.name} goes on in job {job}. Follow it: {follow}; stop it: {stop}")
        return 0
    info = client.get_job_info(job)
    status = str(info.status).rsplit(".", 1)[-1]
    if status == "SUCCEEDED":
        return 0
    code = getattr(info, "driver_exit_code", None)
    _say(f"sweep {spec.name}: job {job} ended {status}" + (f" ({info.message})" if info.message and code is None
                                                                else ""))
    return code if isinstance(code, int) and code > 0 else 1


async def _stream(client, job: str) -> None:
    async for lines in client.tail_job_logs(job):
        sys.stderr.write(lines)
        sys.stderr.flush()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
