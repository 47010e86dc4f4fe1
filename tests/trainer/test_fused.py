"""Fused training: N α-GAN trials stepped as one vmapped model give each trial the losses and
updates of the same trial trained alone, with its own learning rates, loss weights, seed,
data batches, checkpoints and status."""

import pytest
import torch

from trainer import ConfigError, build_algorithm, load_dataset, train
from trainer.data import BatchSampler
from trainer.fused import FusedAlgorithm, split
from trainer.fused_loop import train_fused

from ..conftest import tiny_config

# learning rates, loss weights (eq 11, 13, 14/15) and seeds differ between the trials
TRIALS = [dict(seed=0),
          dict(seed=1, lr_generator=5e-4, lr_code_discriminator=2e-4, recon_weight_encoder=3.0),
          dict(seed=2, lr_discriminator=1e-4, adv_weight_generator=0.5, adv_weight_encoder=2.0,
               recon_weight_generator=7.0, disc_real_weight=2.0)]


def quiet(message):
    pass


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", log=quiet)


def samplers(configs, data):
    return [BatchSampler(data.train, c.batch_size, seed=c.seed + 1, device=torch.device("cpu")) for c in configs]


def test_fused_step_equals_each_trial_alone(data, float64):
    configs = [tiny_config("alphagan", **hp) for hp in TRIALS]
    alone = [build_algorithm(c) for c in configs]
    fused = FusedAlgorithm([build_algorithm(c) for c in configs])
    alone_data, fused_data = samplers(configs, data), samplers(configs, data)
    for _ in range(4):
        want = [algo.step_tensors(s.next().double()) for algo, s in zip(alone, alone_data, strict=True)]
        got = split(fused.step_tensors(torch.stack([s.next().double() for s in fused_data])), len(configs))
        for trial, (w, g) in enumerate(zip(want, got, strict=True)):
            assert set(w) == set(g)
            for key in w:
                torch.testing.assert_close(g[key], w[key], rtol=1e-12, atol=1e-12,
                                           msg=lambda m, trial=trial, key=key: f"trial {trial} loss {key}: {m}")
    fused.sync()
    for trial, (a, f) in enumerate(zip(alone, fused.trials, strict=True)):
        for name in a.nets:
            pairs = zip(a.nets[name].state_dict().items(), f.nets[name].state_dict().values(), strict=True)
            for (key, want), got in pairs:
                torch.testing.assert_close(
                    got, want, rtol=1e-10, atol=1e-12,
                    msg=lambda m, trial=trial, name=name, key=key: f"trial {trial} {name}.{key}: {m}")
            want_state = a.optimizers[name].state_dict()["state"]
            got_state = f.optimizers[name].state_dict()["state"]
            for index in want_state:
                for key in ("step", "exp_avg", "exp_avg_sq"):
                    torch.testing.assert_close(got_state[index][key].double(), want_state[index][key].double(),
                                               rtol=1e-10, atol=1e-14)


def test_fused_bf16_steps_match_each_trial_alone_in_bf16(data):
    """Under bf16 autocast the fused model (vmapped batch norm included) steps each trial as it
    steps alone, up to bf16 rounding."""
    configs = [tiny_config("alphagan", precision="bf16", **hp) for hp in TRIALS]
    alone = [build_algorithm(c) for c in configs]
    fused = FusedAlgorithm([build_algorithm(c) for c in configs])
    alone_data, fused_data = samplers(configs, data), samplers(configs, data)
    for _ in range(3):
        with alone[0].precision():
            want = [algo.step_tensors(s.next()) for algo, s in zip(alone, alone_data, strict=True)]
            got = split(fused.step_tensors(torch.stack([s.next() for s in fused_data])), len(configs))
        for trial, (w, g) in enumerate(zip(want, got, strict=True)):
            for key in w:
                torch.testing.assert_close(g[key].float(), w[key].float(), rtol=2e-2, atol=1e-3,
                                           msg=lambda m, trial=trial, key=key: f"trial {trial} loss {key}: {m}")


def test_trials_really_differ_and_stay_apart(data, float64):
    """Not a trivially equal comparison: the fused trials end with different weights."""
    configs = [tiny_config("alphagan", **hp) for hp in TRIALS]
    fused = FusedAlgorithm([build_algorithm(c) for c in configs])
    fused.step_tensors(torch.stack([s.next().double() for s in samplers(configs, data)]))
    fused.sync()
    weights = [next(iter(a.nets["generator"].parameters())) for a in fused.trials]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])



def test_fused_training_matches_unfused_training_and_checkpoints_per_trial(tmp_path, data):
    configs = [tiny_config("alphagan", max_iter=10, **hp) for hp in TRIALS]
    want = []
    for cfg in configs:
        collected = []
        train(cfg, collected.append, None, data=data, log=quiet)
        want.append(collected)
    got = [[] for _ in configs]
    folders = [tmp_path / f"trial{i}" for i in range(len(configs))]
    results = train_fused(configs, [g.append for g in got], folders, data=data, log=quiet)
    assert [r.status for r in results] == ["finished"] * 3
    for trial, (w, g) in enumerate(zip(want, got, strict=True)):
        assert [r.iteration for r in g] == [5, 10]
        for rw, rg in zip(w, g, strict=True):
            for key, value in rw.metrics.items():
                if key != "iterations_per_second":
                    # float32, 10 GAN updates in another summation order
                    assert rg.metrics[key] == pytest.approx(value, rel=5e-3), (trial, rg.iteration, key)
        assert set(g[-1].images) == {"samples", "reconstructions"}
        assert all(path.is_file() and path.parent == folders[trial] / "samples" for path in g[-1].images.values())
        assert g[-1].checkpoint == folders[trial] / "checkpoint.pt"
    # per-trial checkpoints in the unfused format: a finished fused trial is finished for train()
    messages = []
    assert train(configs[1], None, folders[1], data=data, log=messages.append).status == "finished"
    assert "already finished" in messages[0]


def test_an_interrupted_fused_sweep_resumes_each_trial_alone(tmp_path, data):
    configs = [tiny_config("alphagan", max_iter=10, **hp) for hp in TRIALS[:2]]
    folders = [tmp_path / "a", tmp_path / "b"]
    reports = []
    stopped = train_fused(configs, [reports.append, None], folders, data=data, log=quiet,
                          should_stop=lambda: len(reports) == 1)
    assert [(r.status, r.iteration) for r in stopped] == [("interrupted", 5), ("interrupted", 5)]
    resumed = []
    result = train(configs[0], resumed.append, folders[0], data=data, log=quiet)     # unfused now
    assert (result.status, [r.iteration for r in resumed]) == ("finished", [10])
    alone = []
    train(configs[0], alone.append, None, data=data, log=quiet)
    assert resumed[-1].metrics["generator"] == pytest.approx(alone[-1].metrics["generator"], rel=5e-3)


def test_a_diverging_trial_ends_alone_and_the_others_go_on(data):
    # trial 1's reconstruction weight is so large that its loss sums overflow float32
    configs = [tiny_config("alphagan", max_iter=10, seed=0),
               tiny_config("alphagan", max_iter=10, seed=1, recon_weight_encoder=3e38),
               tiny_config("alphagan", max_iter=10, seed=2)]
    messages = []
    results = train_fused(configs, None, None, data=data, log=messages.append)
    assert [r.status for r in results] == ["finished", "diverged", "finished"]
    assert results[1].iteration == 5 and "2 of 3 fused trials go on" in messages
    alone = train(configs[2], None, None, data=data, log=quiet)
    for key, value in alone.metrics.items():
        if key != "iterations_per_second":
            assert results[2].metrics[key] == pytest.approx(value, rel=5e-3), key


def test_models_and_settings_that_cannot_be_fused_are_refused(data):
    with pytest.raises(ConfigError, match="fused training supports alphagan, not dcgan"):
        train_fused([tiny_config("dcgan"), tiny_config("dcgan", seed=1)], data=data, log=quiet)
    with pytest.raises(ConfigError, match="these differ: latent_dim 8 vs 16"):
        train_fused([tiny_config("alphagan"), tiny_config("alphagan", latent_dim=16)], data=data, log=quiet)
    with pytest.raises(ConfigError, match="channels_last: true is for unfused trials"):
        train_fused([tiny_config("alphagan", channels_last=True, seed=s) for s in (0, 1)], data=data, log=quiet)
