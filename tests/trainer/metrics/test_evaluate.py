"""trainer.metrics.evaluate: drawing samples, and refusing more than the machine can hold."""

import pytest
import torch

from trainer import build_algorithm, train
from trainer.metrics import MetricsError, evaluate_checkpoint, generate_samples
from trainer.metrics.evaluate import check_memory_for_samples

from ...conftest import tiny_config


def test_samples_drawn_in_chunks_are_those_of_each_chunk_in_order():
    algo = build_algorithm(tiny_config("dcgan"))
    images = generate_samples(algo, 1234, torch.Generator().manual_seed(3), chunk=500)
    again = torch.Generator().manual_seed(3)
    chunks = [algo.generate(algo.sample_prior(n, generator=again)) for n in (500, 500, 234)]
    assert images.shape == (1234, 3, 28, 28) and images.device.type == "cpu"
    assert torch.equal(images, torch.cat(chunks))


def test_no_samples_are_an_empty_batch_of_the_dataset_s_images():
    """It was None, not a tensor."""
    images = generate_samples(build_algorithm(tiny_config("alphagan")), 0, torch.Generator().manual_seed(3))
    assert images.shape == (0, 3, 28, 28) and images.dtype == torch.float32


def test_more_samples_than_free_memory_are_refused_in_one_line():
    check_memory_for_samples(114_130, (3, 28, 28), available=2**30)   # 1.0 GiB holds 114,130 of them
    with pytest.raises(MetricsError) as err:
        check_memory_for_samples(1_000_000, (3, 28, 28), available=2**30)
    assert str(err.value) == ("1,000,000 samples of 3x28x28 images need 8.8 GiB of memory, but this machine "
                              "has 1.0 GiB free; evaluate at most 114,130 samples")


def test_a_checkpoint_is_not_evaluated_with_more_samples_than_this_machine_holds(tmp_path):
    """Before, the samples were drawn chunk by chunk until the system killed the process."""
    train(tiny_config("alphagan", max_iter=2, report_every=2), None, tmp_path, log=lambda m: None)
    with pytest.raises(MetricsError, match=r"^10,000,000,000,000 samples of 3x28x28 images need 83.6 PiB"):
        evaluate_checkpoint(tmp_path, samples=10**13, critic_steps=0, log=lambda m: None)


def test_a_checkpoint_of_a_trial_that_checkpointed_off_its_reports_is_still_evaluated(tmp_path):
    """checkpoint_every must now be a multiple of report_every; a checkpoint written before, with
    checkpoint_every 3 and reports every 2, is evaluated all the same (it is a run setting)."""
    from trainer.checkpoint import CheckpointStore

    train(tiny_config("dcgan", max_iter=2, report_every=2), None, tmp_path, log=lambda m: None)
    store = CheckpointStore(tmp_path)
    state = store.load()
    state["config"]["checkpoint_every"] = 3
    store.save(state)
    metrics, cfg = evaluate_checkpoint(tmp_path, samples=20, critic_steps=0, log=lambda m: None)
    assert metrics["iteration"] == 2 and cfg.checkpoint_every == 2
