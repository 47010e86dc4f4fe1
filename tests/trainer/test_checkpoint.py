"""A checkpoint can never run code: it is read with torch.load(weights_only=True). New checkpoints
hold only tensors and plain Python values; older ones (numpy's RNG state as an array) still load
and resume; a file that would run code when unpickled is refused with one line, without running."""

import pickle
import random

import numpy as np
import pytest
import torch

from trainer import train
from trainer.atomic_files import atomic_write
from trainer.checkpoint import CheckpointError, CheckpointStore, global_rng_state, set_global_rng_state

from ..conftest import tiny_config

MARKER = "ran code from a checkpoint"


class RunsCode:
    """Unpickled by a plain torch.load, it would call print(MARKER) (any callable works alike)."""

    def __reduce__(self):
        return (print, (MARKER,))


def test_a_checkpoint_holds_only_weights_and_plain_values(tmp_path):
    train(tiny_config("alphagan", max_iter=4, report_every=2), None, tmp_path, log=lambda m: None)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "checkpoint.pt") == []
    assert CheckpointStore(tmp_path).load()["iteration"] == 4


def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path, capsys):
    torch.save({"iteration": 1, "payload": RunsCode()}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError) as err:
        CheckpointStore(tmp_path).load()
    assert MARKER not in capsys.readouterr().out
    text = str(err.value)
    assert "cannot read the checkpoint" in text and "weights only" in text and "\n" not in text
    with pytest.raises(pickle.UnpicklingError):            # the plain reader would have run it
        torch.load(tmp_path / "checkpoint.pt", weights_only=True)


def test_a_file_that_is_not_a_trials_checkpoint_is_refused_with_the_callers_advice(tmp_path):
    """Any weights-only file named checkpoint.pt (a classifier's weights, a list) was a KeyError
    where the trial or `evaluate` first looked inside."""
    for content, lacks in [({"iteration": 3, "weights": torch.zeros(2)}, "hyperparameters, config, algorithm"),
                           ([1, 2], "iteration, hyperparameters, config, algorithm")]:
        torch.save(content, tmp_path / "checkpoint.pt")
        with pytest.raises(CheckpointError) as err:
            CheckpointStore(tmp_path).load(advice="evaluate another one")
        assert str(err.value) == (f"{tmp_path / 'checkpoint.pt'} is not a trial's checkpoint (it has no {lacks}); "
                                  "evaluate another one")


def test_a_write_that_fails_leaves_the_file_as_it_was_and_no_part_behind(tmp_path):
    """E.g. a full disk halfway through a checkpoint: the previous checkpoint stays, and the part
    written does not keep taking the disk's space (tests/orchestrator/test_trial_cli.py fills a real disk)."""
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"previous")

    def write(tmp):
        tmp.write_bytes(b"half of the n")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        atomic_write(path, write)
    assert path.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_rng_states_round_trip_as_tensors():
    np.random.seed(3)
    random.seed(4)
    torch.manual_seed(5)
    state = global_rng_state()
    assert isinstance(state["numpy"]["keys"], torch.Tensor)
    want = (np.random.rand(3), random.random(), torch.rand(3))
    set_global_rng_state(state)
    got = (np.random.rand(3), random.random(), torch.rand(3))
    assert np.array_equal(got[0], want[0]) and got[1] == want[1] and torch.equal(got[2], want[2])


def test_an_older_checkpoint_with_a_numpy_rng_state_still_loads_and_resumes(tmp_path):
    cfg = tiny_config("dcgan", max_iter=6, report_every=2)
    stopped = train(cfg, None, tmp_path, log=lambda m: None, should_stop=lambda: True)
    assert stopped.status == "interrupted"
    state = CheckpointStore(tmp_path).load()
    np.random.seed(7)
    state["global_rng"]["numpy"] = np.random.get_state()          # as checkpoints were written before
    torch.save(state, tmp_path / "checkpoint.pt")
    assert CheckpointStore(tmp_path).load()["global_rng"]["numpy"][0] == "MT19937"
    result = train(cfg, None, tmp_path, log=lambda m: None)
    assert result.status == "finished" and result.iteration == 6


@pytest.mark.parametrize("model", ["alphagan", "dcgan", "wgangp", "age"])
def test_checkpoint_bytes_is_what_the_networks_and_adam_take_in_a_real_checkpoint(tmp_path, model):
    """The sweep's storage check counts on it: built on the meta device, it must match the
    networks and Adam moments a trained trial's checkpoint holds, byte for byte."""
    from trainer.models import checkpoint_bytes

    cfg = tiny_config(model=model, max_iter=2, report_every=2)
    train(cfg, checkpoint_dir=tmp_path)
    algorithm = CheckpointStore(tmp_path).load()["algorithm"]
    tensors = [t for net in algorithm["nets"].values() for t in net.values()]
    tensors += [t for opt in algorithm["optimizers"].values() for state in opt["state"].values()
                for key, t in state.items() if key != "step"]
    assert checkpoint_bytes(cfg) == sum(t.numel() * t.element_size() for t in tensors)
    assert checkpoint_bytes(cfg) <= (tmp_path / "checkpoint.pt").stat().st_size
