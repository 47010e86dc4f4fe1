"""The kept copy of Ray Tune's experiment state, and --resume where the storage's is cut short
(orchestrator/tune_state_copy.py). The files here have Ray Tune's names and formats (its
experiment state is JSON; its searcher's state a pickle, even in a .json); a real sweep's copy,
cut short and resumed, is in test_sweep_resume.py's interrupted Optuna search."""

import json
import logging
import pickle
import zipfile

import pytest

from orchestrator import layout
from orchestrator.errors import ResumeRefused, UsageError
from orchestrator.tune_state_copy import (
    CONTROLLER_LOGGER,
    check_resumable,
    cut_short,
    keep_copy,
    no_fresh_start,
    replace_cut_short_state,
    why_unreadable,
)

OLD, NEW = "2026-12-07_05-40-01", "2026-12-07_05-45-31"


def ray_files(folder, session, trials=3):
    """What Ray Tune saves of a session: its experiment state and its searcher's state."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"trial_data": [[f'{{"trial_id": "a57d6_0000{k}"}}', "{}"] for k in range(trials)],
             "runner_data": {"_session_str": session}, "stats": {"start_time": 1.0}}
    (folder / f"experiment_state-{session}.json").write_text(json.dumps(state))
    (folder / f"basic-variant-state-{session}.json").write_bytes(pickle.dumps({"counter": trials}))


@pytest.fixture(autouse=True)
def ray_temp(tmp_path, monkeypatch):
    """Ray's folder on this node (its sessions' staging folders), empty unless a test fills it."""
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "node_tmp"))
    return tmp_path / "node_tmp" / "ray"


def sweep_storage(tmp_path):
    """A storage with sweep 'full': tuner.pkl, its trials' folders, and an older and a newer
    session of Ray Tune's state; returns (storage, experiment folder, a staging folder holding the
    newer session)."""
    storage, staging = tmp_path / "storage", tmp_path / "staging"
    experiment = storage / "full"
    ray_files(experiment, OLD, trials=2)
    ray_files(experiment, NEW)
    ray_files(staging, NEW)
    (experiment / "tuner.pkl").write_bytes(pickle.dumps({"_trainable": "run_trial"}))
    for k in range(3):
        (experiment / f"trial_a57d6_0000{k}").mkdir()
    return storage, experiment, staging


def cut(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def test_a_file_cut_short_is_unreadable_whole_or_pickled_in_a_json():
    state = json.dumps({"trial_data": [1, 2, 3]}).encode()
    searcher = pickle.dumps({"counter": 4, "name": "x" * 300}, protocol=5)
    assert why_unreadable(state) is None and why_unreadable(searcher) is None
    assert why_unreadable(state[:-1]).startswith("JSONDecodeError: ")
    assert why_unreadable(b"").startswith("JSONDecodeError: ")
    for size in (1, 2, 20, len(searcher) - 1):               # not one cut of the pickle reads as whole
        assert why_unreadable(searcher[:size]) is not None, size


def test_each_save_is_kept_whole_with_tuner_pkl_and_a_cut_save_keeps_the_copy_before(tmp_path):
    storage, experiment, staging = sweep_storage(tmp_path)
    copy = layout.tune_state_copy_path(storage, "full")
    ray_files(staging, OLD, trials=2)                       # a resumed sweep's staging holds older sessions too
    assert keep_copy(staging, experiment, copy)
    with zipfile.ZipFile(copy) as kept:
        assert sorted(kept.namelist()) == [f"basic-variant-state-{NEW}.json", f"experiment_state-{NEW}.json",
                                           "tuner.pkl"]
        assert kept.read(f"experiment_state-{NEW}.json") == (staging / f"experiment_state-{NEW}.json").read_bytes()
    before = copy.read_bytes()
    cut(staging / f"basic-variant-state-{NEW}.json")
    assert not keep_copy(staging, experiment, copy)
    assert copy.read_bytes() == before and not list(storage.glob("*.tmp"))
    assert not keep_copy(tmp_path / "no_staging_yet", experiment, copy)


def test_resume_takes_the_kept_copy_where_the_storage_holds_a_cut_state(tmp_path):
    storage, experiment, staging = sweep_storage(tmp_path)
    keep_copy(staging, experiment, layout.tune_state_copy_path(storage, "full"))
    assert cut_short(experiment) == {} and replace_cut_short_state(storage, "full") is None
    whole = (experiment / f"experiment_state-{NEW}.json").read_bytes()
    cut(experiment / f"experiment_state-{NEW}.json", keep=0.01)
    broken = cut_short(experiment)
    assert list(broken) == [f"experiment_state-{NEW}.json"] and broken[f"experiment_state-{NEW}.json"].startswith(
        "JSONDecodeError: ")
    check_resumable(storage, "full")                        # the kept copy stands in: no refusal
    line = replace_cut_short_state(storage, "full")
    assert line.startswith(f"sweep full: Ray Tune's state in {experiment} was cut short (experiment_state-{NEW}.json: "
                           "JSONDecodeError: ")
    assert "resuming from the copy kept at 20" in line and str(layout.tune_state_copy_path(storage, "full")) in line
    aside = next(experiment.glob(f"{layout.UNREADABLE_STATE}*"))
    assert line.endswith(f"the files it replaced are in {aside}")
    # every state file goes aside (the older session's too), so Ray Tune reads the copy's session
    assert sorted(path.name for path in aside.iterdir()) == sorted(
        f"{kind}-{session}.json" for kind in ("basic-variant-state", "experiment_state") for session in (OLD, NEW))
    assert sorted(path.name for path in experiment.iterdir() if path.is_file()) == [
        f"basic-variant-state-{NEW}.json", f"experiment_state-{NEW}.json", "tuner.pkl"]
    assert (experiment / f"experiment_state-{NEW}.json").read_bytes() == whole
    assert cut_short(experiment) == {}


def test_resume_without_a_whole_copy_is_refused_in_one_line_and_changes_nothing(tmp_path):
    storage, experiment, staging = sweep_storage(tmp_path)
    cut(experiment / f"basic-variant-state-{NEW}.json")
    before = {path.name: path.read_bytes() for path in experiment.iterdir() if path.is_file()}
    with pytest.raises(UsageError) as refused:
        check_resumable(storage, "full")
    message = str(refused.value)
    assert "\n" not in message and message.startswith(
        f"--resume: Ray Tune's state of sweep 'full' in {experiment} is cut short (basic-variant-state-{NEW}.json: ")
    assert (f"no whole copy of it is left (no staging copy of Ray Tune's on this node; {storage}/full.tune-state.zip "
            "is missing)") in message
    assert message.endswith(f"to do that, move {experiment} aside and run the sweep without --resume")
    assert replace_cut_short_state(storage, "full") is None
    assert {path.name: path.read_bytes() for path in experiment.iterdir() if path.is_file()} == before
    copy = layout.tune_state_copy_path(storage, "full")
    copy.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(UsageError, match=r"; .*full\.tune-state\.zip is unreadable \(BadZipFile: "):
        check_resumable(storage, "full")
    other = tmp_path / "other"                  # a copy of another sweep's state (its trials are not here)
    ray_files(other, NEW)
    (other / f"experiment_state-{NEW}.json").write_text(
        (other / f"experiment_state-{NEW}.json").read_text().replace("a57d6", "b3c3c"))
    copy.unlink()
    keep_copy(other, experiment, copy)
    with pytest.raises(UsageError, match=r"full\.tune-state\.zip is of another sweep \(none of its trials has a "):
        check_resumable(storage, "full")


def test_resume_on_the_drivers_node_takes_ray_tunes_staging_copy_first(tmp_path, ray_temp):
    """Ray Tune's staging folder, on the node's own disk, holds its newest save whole: the first
    stand-in, where a full storage kept the sweep's copy from being written at all."""
    storage, experiment, _ = sweep_storage(tmp_path)
    staging = ray_temp / "session_2026-12-07_05-40-00_123_642" / "artifacts" / NEW / "full" / "driver_artifacts"
    ray_files(staging, OLD, trials=2)                       # after a resume, older sessions are there too
    ray_files(staging, NEW)
    ray_files(ray_temp / "session_x" / "artifacts" / NEW / "other" / "driver_artifacts", NEW)   # another sweep's
    cut(experiment / f"basic-variant-state-{NEW}.json")
    check_resumable(storage, "full")
    line = replace_cut_short_state(storage, "full")
    assert "resuming from Ray Tune's staging copy on this node, saved at 20" in line and f"({staging})" in line
    for kind in ("basic-variant-state", "experiment_state"):
        assert (experiment / f"{kind}-{NEW}.json").read_bytes() == (staging / f"{kind}-{NEW}.json").read_bytes()
    assert sorted(path.name for path in experiment.iterdir() if path.is_file()) == [
        f"basic-variant-state-{NEW}.json", f"experiment_state-{NEW}.json", "tuner.pkl"]


def test_a_sweep_ray_tune_never_saved_resumes_as_ray_tune_starts_it(tmp_path):
    """Stopped before Ray Tune's first save (tuner.pkl only): no trial to lose, no refusal."""
    storage = tmp_path / "storage"
    (storage / "full").mkdir(parents=True)
    (storage / "full" / "tuner.pkl").write_bytes(pickle.dumps({"_trainable": "run_trial"}))
    check_resumable(storage, "full")
    assert replace_cut_short_state(storage, "full") is None


def test_ray_tunes_failed_restore_is_an_error_not_a_fresh_start(tmp_path):
    logger = logging.getLogger(CONTROLLER_LOGGER)
    with no_fresh_start(tmp_path / "full"):
        logger.info("Restoring the run from the latest experiment state file")     # others pass
        try:
            raise KeyError("runner_data")
        except KeyError:
            with pytest.raises(ResumeRefused) as refused:
                logger.exception("Failed to restore the run state.")
    assert str(refused.value).startswith(f"--resume: Ray Tune could not read back the sweep's state in "
                                         f"{tmp_path / 'full'} (KeyError: 'runner_data') and would have started "
                                         "every trial afresh, so it started none")
    assert isinstance(refused.value.__cause__, KeyError)
    assert not logger.filters                                # only inside
