"""Shared fixtures: the real MNIST test set beside the repository, small configurations."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
import torch

from tests.disk_room import check_run_room
from trainer import TrialConfig

# the sweep tests' assert_* helpers say what differs; here, before tests/docker imports them
pytest.register_assert_rewrite("tests.orchestrator.sweep_helpers")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ALPHAGAN_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """A disk too full for the run: one line before the first test (tests/disk_room.py)."""
    check_run_room(Path(session.config.option.basetemp or tempfile.gettempdir()))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: holds mnist/ with the official MNIST test set."""
    if not (SHARED_DATA / "mnist").is_dir():
        message = (f"the shared MNIST data is not at {SHARED_DATA}/mnist; set "
                   "ALPHAGAN_SHARED_DATA to the folder holding mnist/")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Dataset and classifier caches go to a temporary folder, never to the user's home. Session
    scoped, so that it is in place before any module-scoped fixture trains a classifier."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALPHAGAN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


@pytest.fixture(autouse=True, scope="session")
def _own_ray_temp():
    """The Ray instances the tests start keep their sessions in a folder of this test process's
    own ($RAY_TMPDIR, inherited by every command and node they start): an `address="auto"` there,
    or a resume's look for Ray Tune's staging copy, never finds a user's Ray or that of another
    test run on the machine. Short: Ray's socket paths must fit 107 bytes."""
    folder = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", folder)
        yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_reaches_children():
    """A test's Ctrl-C (SIGINT) reaches the commands it starts, as in a terminal. pytest run in the
    background of a non-interactive shell (`nohup make test &`, some CI wrappers) starts with
    SIGINT ignored, and a child inherits "ignored" through exec: Python then sets no handler, and
    `orchestrate sweep --address` (whose Ctrl-C detaches) streamed on to the sweep's end. With a
    handler here, children start with SIGINT at its default."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _torch_threads():
    """A test that sets torch's thread count (as a trial's process does) sets it for itself only:
    one that set 1 thread ran every later test in this process on one core."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def tiny_config(model: str = "alphagan", **overrides) -> TrialConfig:
    """A configuration small enough for unit tests: narrow networks, small batches."""
    values = dict(model=model, dataset="synthetic", device="cpu", width=0.125, batch_size=16,
                  latent_dim=8, max_iter=20, report_every=5, cuda_graphs=False)
    values.update(overrides)
    return TrialConfig(**values)
