import subprocess
import time

import pytest

from .sweep_helpers import SMOKE, sweep_command


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory):
    """The smoke spec run once by `orchestrate sweep` for every test that looks at a real sweep:
    (storage folder, the finished process, wall seconds)."""
    storage = tmp_path_factory.mktemp("smoke_sweep")
    start = time.time()
    out = subprocess.run(sweep_command(SMOKE, storage), capture_output=True, text=True, timeout=900)
    return storage, out, time.time() - start
