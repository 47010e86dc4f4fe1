import subprocess
import time

import pytest
import ray

from orchestrator.local_ray import shutdown_ray

from .sweep_helpers import SMOKE, sweep_command


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory):
    """The smoke spec run once by `orchestrate sweep` for every test that looks at a real sweep:
    (storage folder, the finished process, wall seconds)."""
    storage = tmp_path_factory.mktemp("smoke_sweep")
    start = time.time()
    out = subprocess.run(sweep_command(SMOKE, storage), capture_output=True, text=True, timeout=900)
    return storage, out, time.time() - start


@pytest.fixture(scope="module")
def local_ray():
    """An in-process Ray instance of 2 CPUs for the critic actor's tests."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    shutdown_ray()
