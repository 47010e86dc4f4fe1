"""orchestrator.preflight: a resumed sweep's spec is the one it started with, and its storage the
folder it started in."""

import pytest

from orchestrator import layout
from orchestrator.errors import UsageError
from orchestrator.preflight import check_same_spec, check_same_storage, spec_content, spec_sha256
from orchestrator.sweep_spec import load_sweep_spec
from orchestrator.sweep_state import SweepState

from .sweep_helpers import SMOKE


@pytest.fixture
def spec():
    return load_sweep_spec(SMOKE)


def state(storage=None, tracking_uri="http://mlflow:5000"):
    return SweepState(parent_run_id="p", tracking_uri=tracking_uri, storage=None if storage is None else str(storage))


def test_a_changed_spec_is_named_and_a_state_file_without_the_started_spec_still_refuses(spec, tmp_path):
    """State files hold the spec's content since 2026-12-07 (a refusal names what changed), its
    fingerprint since 2026-12-06, the file's SHA-256 before that; each still resumes its own spec."""
    import hashlib

    started = spec_content(spec)
    changed = tmp_path / "smoke.yaml"
    changed.write_text(SMOKE.read_text().replace("max_iter: 20", "max_iter: 30"))
    now = load_sweep_spec(changed)
    content = spec_content(now)
    fingerprints = (spec_sha256(content), content)
    with pytest.raises(UsageError, match=r"started: trial\.max_iter: was 20, now 30; resume it with"):
        check_same_spec(now, SweepState("p", "u", spec_sha256=spec_sha256(started), spec=started), *fingerprints)
    with pytest.raises(UsageError, match=r"has changed since sweep 'smoke' started; resume it with"):
        check_same_spec(now, SweepState("p", "u", spec_sha256=spec_sha256(started)), *fingerprints)
    for old in (spec_sha256(started), hashlib.sha256(SMOKE.read_bytes()).hexdigest(), None):
        check_same_spec(spec, SweepState("p", "u", spec_sha256=old), spec_sha256(started), started)


def test_the_folder_it_started_in_or_a_link_to_it_resumes(spec, tmp_path):
    started = tmp_path / "started"
    started.mkdir()
    (tmp_path / "link").symlink_to(started)
    check_same_storage(spec, started, state(started))
    check_same_storage(spec, started, state(tmp_path / "link"))      # started through a link to it
    check_same_storage(spec, tmp_path / "link", state(started))


def test_a_moved_storage_is_refused_in_one_line_naming_both_paths(spec, tmp_path):
    started, moved = tmp_path / "started", tmp_path / "moved"
    moved.mkdir()
    with pytest.raises(UsageError, match=rf"sweep 'smoke' started in {started}, not {moved}: .* ln -s {moved} "
                                         rf"{started}\)$"):
        check_same_storage(spec, moved, state(started))
    started.mkdir()                                # another folder at the old path is not the sweep's
    with pytest.raises(UsageError, match="started in"):
        check_same_storage(spec, moved, state(started))


def test_a_state_file_from_before_the_storage_was_recorded(spec, tmp_path):
    """Such a sweep's start folder is known where its SQLite store moved along with its storage;
    a sweep tracked on a server is not checked."""
    started, moved = tmp_path / "started", tmp_path / "moved"
    moved.mkdir()
    (moved / layout.DEFAULT_DB).write_bytes(b"")
    with pytest.raises(UsageError, match=f"started in {started}, not {moved}"):
        check_same_storage(spec, moved, state(tracking_uri=f"sqlite:///{started}/{layout.DEFAULT_DB}"))
    check_same_storage(spec, moved, state(tracking_uri=f"sqlite:///{moved}/{layout.DEFAULT_DB}"))
    check_same_storage(spec, moved, state(tracking_uri="http://mlflow:5000"))
    check_same_storage(spec, moved, state(tracking_uri=f"sqlite:///{tmp_path}/elsewhere.db"))


def test_a_data_root_with_a_tilde_is_the_drivers_home(tmp_path, monkeypatch):
    """`data_root: ~/data` in a spec was made absolute below the working folder (/work/~/data)."""
    from orchestrator.preflight import preflight

    from ..trainer.test_data import write_cifar

    write_cifar(tmp_path / "data", n_train=100)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("trainer.data.cifar10.VAL_SIZE", 300)       # the critic's batch fits in it
    path = tmp_path / "tilde.yaml"
    path.write_text(SMOKE.read_text().replace("dataset: synthetic", "dataset: cifar10\n  data_root: ~/data")
                    .replace("name: smoke", "name: tilde"))
    checked = preflight(load_sweep_spec(path), tmp_path / "storage", tracking_uri=None, resume=False, data_root=None)
    assert checked.data_root == str(tmp_path / "data")
