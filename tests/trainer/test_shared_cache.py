"""The dataset cache is built by one process while the others wait, is never left half-written,
and is memory-mapped: readers on a node share one copy."""

import hashlib
import json
import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from trainer.data import DatasetError, load_dataset
from trainer.data.shared_cache import _build, _locked, cached_arrays

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from celeba_like import write_celeba_like  # noqa: E402

READER = textwrap.dedent("""
    import hashlib, os, sys, time
    from pathlib import Path
    from trainer.data import load_dataset
    start = Path(sys.argv[2])
    while not start.exists():           # every process starts loading at the same moment
        time.sleep(0.005)
    data = load_dataset("celeba", sys.argv[1], log=lambda m: print(m, flush=True))
    digest = hashlib.sha256(b"".join(data.split(s).numpy().tobytes() for s in ("train", "val", "test")))
    print("DIGEST", digest.hexdigest(), flush=True)
""")


def test_concurrent_trials_build_the_celeba_cache_once_and_all_read_it(tmp_path):
    """Four processes that find no cache at once (as four trials of a sweep do): one decodes, the
    others wait for it, and all read the same complete cache; nothing temporary is left."""
    write_celeba_like(tmp_path / "data", 300)
    cache, start = tmp_path / "cache", tmp_path / "go"
    env = {**os.environ, "ALPHAGAN_CACHE": str(cache), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(tmp_path / "data"), str(start)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    time.sleep(8)                                     # all imported and polling
    start.touch()
    outputs = [reader.communicate(timeout=300) for reader in readers]
    for reader, (_, stderr) in zip(readers, outputs, strict=True):
        assert reader.returncode == 0, stderr[-3000:]
    decoded = [stdout for stdout, _ in outputs if "decoding 300 faces" in stdout]
    assert len(decoded) == 1, [stdout for stdout, _ in outputs]
    # each of the others waited for the decoder, or (slower to start on a busy machine) came after
    # it had finished; the wait itself: the test below
    digests = {line for stdout, _ in outputs for line in stdout.splitlines() if line.startswith("DIGEST")}
    assert len(digests) == 1
    folders = [p.name for p in cache.iterdir() if p.is_dir()]
    assert len(folders) == 1 and sorted(p.name for p in cache.iterdir()) == [folders[0], f"{folders[0]}.lock"]


WAITER = textwrap.dedent("""
    import sys
    import numpy as np
    from trainer.data.shared_cache import cached_arrays
    def build():
        print("BUILT HERE", flush=True)
        return {"a": np.zeros(3, dtype=np.uint8)}, "zeros"
    tensors, note = cached_arrays("thing", build, log=lambda m: print(m, flush=True))
    print("READ", tensors["a"].tolist(), note, flush=True)
""")


def test_a_process_that_finds_the_cache_being_built_waits_and_reads_it_without_building(tmp_path):
    """The builder's lock held (here by this test, which builds meanwhile): a trial that finds no
    cache says it waits, and once the lock is free reads what was built instead of building again."""
    env = {**os.environ, "ALPHAGAN_CACHE": str(tmp_path), "PYTHONPATH": str(REPO)}
    with _locked(tmp_path / "thing.lock", log=lambda message: None):
        waiter = subprocess.Popen([sys.executable, "-c", WAITER], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([waiter.stdout], [], [], 120)
        first = waiter.stdout.readline() if ready else "(nothing in 120 s)"
        if waiter.poll() is not None:
            first += waiter.stderr.read()[-3000:]
        assert first.startswith(f"dataset cache: another process is building {tmp_path / 'thing'}; "
                                "waiting for it"), first
        _build(tmp_path / "thing", lambda: ({"a": np.arange(3, dtype=np.uint8)}, "built by the test"))
    rest, stderr = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, stderr[-3000:]
    assert "dataset cache: built by another process (waited" in rest
    assert "BUILT HERE" not in rest and "READ [0, 1, 2] built by the test" in rest, rest


def test_cached_splits_are_memory_mapped_read_only(tmp_path):
    write_celeba_like(tmp_path, 40)
    data = load_dataset("celeba", tmp_path, log=lambda message: None)
    maps = Path("/proc/self/maps").read_text()
    folder = next(p for p in Path(os.environ["ALPHAGAN_CACHE"]).iterdir() if p.name.startswith("celeba64-")
                  and (p / "manifest.json").is_file() and str(p / "train.npy") in maps)
    mappings = [line.split() for line in maps.splitlines() if line.endswith(str(folder / "train.npy"))]
    assert mappings and all(m[1].startswith("r-") for m in mappings)   # the file itself, read-only
    assert data.train.shape == (32, 3, 64, 64)


def test_a_builder_that_fails_leaves_nothing_and_the_next_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHAGAN_CACHE", str(tmp_path))

    def broken():
        raise DatasetError("cannot decode x.jpg")

    with pytest.raises(DatasetError, match="cannot decode"):
        cached_arrays("thing", broken)
    assert [p.name for p in tmp_path.iterdir()] == ["thing.lock"]
    tensors, note = cached_arrays("thing", lambda: ({"a": np.arange(6, dtype=np.uint8).reshape(2, 3)}, "six"))
    assert note == "six" and tensors["a"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_a_damaged_cache_names_the_folder_to_delete(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHAGAN_CACHE", str(tmp_path))
    cached_arrays("thing", lambda: ({"a": np.zeros((4, 4), dtype=np.uint8)}, ""))
    (tmp_path / "thing" / "a.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DatasetError, match=r"cache .*thing is damaged .*delete that folder"):
        cached_arrays("thing", lambda: ({}, ""))
    manifest = json.loads((tmp_path / "thing" / "manifest.json").read_text())
    assert manifest["arrays"]["a"] == {"dtype": "uint8", "shape": [4, 4]}


def test_colormnist_is_cached_with_its_digits(shared_data):
    first = load_dataset("colormnist", shared_data, log=lambda message: None)
    again = load_dataset("colormnist", shared_data, log=lambda message: None)
    assert again.train.data_ptr() != 0 and hashlib.sha256(first.train.numpy().tobytes()).digest() == \
        hashlib.sha256(again.train.numpy().tobytes()).digest()
    assert first.labels["train"].shape == (len(first.train), 3)
