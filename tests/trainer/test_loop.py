"""The training loop: bit-identical resume on CPU, divergence, grids, reports, reruns."""

import json

import pytest
import torch
from PIL import Image

from trainer import ConfigError, train
from trainer.checkpoint import CheckpointStore
from trainer.data import load_dataset
from trainer.loop_scaffold import cudnn_autotuning

from ..conftest import tiny_config

MODELS = ["alphagan", "dcgan", "wgangp", "age"]


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", log=lambda m: None)


def quiet(message):
    pass


def collect(into):
    return lambda report: into.append((report.iteration, dict(report.metrics)))


def assert_states_equal(a, b):
    """Every network tensor (parameters and batch-norm buffers) and every optimizer moment."""
    for name in a["algorithm"]["nets"]:
        for key, tensor in a["algorithm"]["nets"][name].items():
            assert torch.equal(tensor, b["algorithm"]["nets"][name][key]), f"{name}.{key}"
        for index, moments in a["algorithm"]["optimizers"][name]["state"].items():
            for key, tensor in moments.items():
                assert torch.equal(tensor, b["algorithm"]["optimizers"][name]["state"][index][key])
    assert torch.equal(a["algorithm"]["rng"], b["algorithm"]["rng"])
    assert torch.equal(a["sampler"]["order"], b["sampler"]["order"])
    assert a["sampler"]["position"] == b["sampler"]["position"]


def without_speed(reports):
    return [(i, {k: v for k, v in m.items() if k != "iterations_per_second"}) for i, m in reports]


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", MODELS)
def test_stopped_and_resumed_run_is_bit_identical(tmp_path, data, model, device):
    """On a GPU too: the checkpoint's generator states come back as CPU byte tensors."""
    with torch.backends.cudnn.flags(enabled=True, deterministic=True, benchmark=False):
        _stop_resume_and_compare(tmp_path, data, tiny_config(model, max_iter=12, report_every=5, device=device))


def _stop_resume_and_compare(tmp_path, data, cfg):
    straight = []
    result = train(cfg, collect(straight), tmp_path / "straight", data=data, log=quiet)
    assert result.status == "finished" and result.iteration == 12

    resumed = []
    calls = iter(range(1000))
    stopped = train(cfg, collect(resumed), tmp_path / "resumed", data=data, log=quiet,
                    should_stop=lambda: next(calls) == 6)        # asked after iteration 7
    assert stopped.status == "interrupted" and stopped.iteration == 7
    assert CheckpointStore(tmp_path / "resumed").load()["iteration"] == 7
    messages = []
    result = train(cfg, collect(resumed), tmp_path / "resumed", data=data, log=messages.append)
    assert result.status == "finished" and "resuming" in messages[0] and "iteration 7" in messages[0]

    assert_states_equal(CheckpointStore(tmp_path / "straight").load(),
                        CheckpointStore(tmp_path / "resumed").load())
    assert without_speed(resumed) == without_speed(straight)     # the interval means too


def test_crash_after_a_checkpoint_resumes_from_it(tmp_path, data):
    cfg = tiny_config("alphagan", max_iter=15, report_every=5)
    train(cfg, None, tmp_path / "straight", data=data, log=quiet)

    def crash(report):
        if report.iteration == 10:
            raise RuntimeError("node lost")

    with pytest.raises(RuntimeError, match="node lost"):
        train(cfg, crash, tmp_path / "crashed", data=data, log=quiet)
    assert CheckpointStore(tmp_path / "crashed").load()["iteration"] == 10
    train(cfg, None, tmp_path / "crashed", data=data, log=quiet)
    assert_states_equal(CheckpointStore(tmp_path / "straight").load(),
                        CheckpointStore(tmp_path / "crashed").load())


def test_non_finite_loss_ends_the_trial_as_diverged(tmp_path, data):
    cfg = tiny_config("alphagan", max_iter=20, report_every=5)

    def poison(report):                                 # a weight blows up after iteration 10
        if report.iteration == 10:
            with torch.no_grad():
                next(report.algorithm.nets["generator"].parameters()).fill_(float("nan"))

    result = train(cfg, poison, tmp_path, data=data, log=quiet)
    assert result.status == "diverged" and result.iteration == 15
    assert "between iterations 11 and 15" in result.message and "generator" in result.message
    assert CheckpointStore(tmp_path).load()["iteration"] == 10          # last good state kept
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "diverged" and status["iteration"] == 15
    messages = []
    again = train(cfg, None, tmp_path, data=data, log=messages.append)
    assert again.status == "diverged" and "already diverged" in messages[0]


@pytest.mark.parametrize("model, grids", [("alphagan", {"samples", "reconstructions"}),
                                          ("wgangp", {"samples"})])
def test_reports_carry_grids_and_checkpoints(tmp_path, data, model, grids):
    cfg = tiny_config(model, max_iter=10, report_every=5, sample_count=16)
    reports = []
    train(cfg, reports.append, tmp_path, data=data, log=quiet)
    assert [r.iteration for r in reports] == [5, 10]
    for report in reports:
        assert set(report.images) == grids and report.checkpoint == tmp_path / "checkpoint.pt"
        assert all(torch.isfinite(torch.tensor(v)) for v in report.metrics.values())
        assert report.metrics["iterations_per_second"] > 0
    samples = Image.open(tmp_path / "samples" / "samples_0000010.png")
    # 16 images, 8 per row, each 28 px upscaled 4x (nearest) to 112 px, 2 px between
    assert samples.size == (8 * 114 + 2, 2 * 114 + 2)
    if "reconstructions" in grids:
        assert Image.open(reports[-1].images["reconstructions"]).size == (16 * 114 + 2, 2 * 114 + 2)


def test_finished_trial_is_not_retrained_and_other_settings_are_refused(tmp_path, data):
    cfg = tiny_config("dcgan", max_iter=5)
    train(cfg, None, tmp_path, data=data, log=quiet)
    stamp = (tmp_path / "checkpoint.pt").stat().st_mtime_ns
    messages = []
    assert train(cfg, None, tmp_path, data=data, log=messages.append).status == "finished"
    assert "already finished" in messages[0]
    assert (tmp_path / "checkpoint.pt").stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match=r"belongs to another trial \(lr_generator: 0.0002 -> 0.001\)"):
        train(tiny_config("dcgan", max_iter=5, lr_generator=1e-3), None, tmp_path, data=data, log=quiet)


@pytest.mark.parametrize("model", ["alphagan", "wgangp"])
def test_a_finished_trial_trained_further_is_the_longer_trial_bit_for_bit(tmp_path, data, model):
    """Raising max_iter was refused ("belongs to another trial (max_iter: 6 -> 12)"): a researcher
    who wanted a good trial trained longer had to start again."""
    straight = []
    train(tiny_config(model, max_iter=12, report_every=3), collect(straight), tmp_path / "straight", data=data,
          log=quiet)
    further, messages = [], []
    assert train(tiny_config(model, max_iter=6, report_every=3), collect(further), tmp_path / "further",
                 data=data, log=quiet).iteration == 6
    result = train(tiny_config(model, max_iter=12, report_every=3), collect(further), tmp_path / "further",
                   data=data, log=messages.append)
    assert result.status == "finished" and result.iteration == 12
    assert "finished 6 iterations; training it on to max_iter 12" in messages[0] and "resuming" in messages[1]
    assert_states_equal(CheckpointStore(tmp_path / "straight").load(), CheckpointStore(tmp_path / "further").load())
    assert without_speed(further) == without_speed(straight)


def test_a_trial_past_a_lowered_max_iter_is_refused(tmp_path, data):
    train(tiny_config("dcgan", max_iter=6, report_every=3), None, tmp_path / "finished", data=data, log=quiet)
    calls = iter(range(1000))
    train(tiny_config("dcgan", max_iter=12, report_every=3), None, tmp_path / "stopped", data=data, log=quiet,
          should_stop=lambda: next(calls) == 7)                              # asked after iteration 8
    for folder, at in (("finished", 6), ("stopped", 8)):
        with pytest.raises(ConfigError) as err:
            train(tiny_config("dcgan", max_iter=5, report_every=3), None, tmp_path / folder, data=data, log=quiet)
        assert str(err.value) == (f"the trial in {tmp_path / folder} is at iteration {at}, past max_iter 5; raise "
                                  "max_iter to train it further, or use another output folder")


def test_evaluation_state_travels_in_the_checkpoint(tmp_path, data):
    """What ``evaluate`` advances at a report is saved in that report's checkpoint."""
    box = {"critic_steps": 0}

    def evaluate(report):
        box["critic_steps"] += 1
        return {"critic_steps": box["critic_steps"]}

    extra = (lambda: dict(box), lambda saved: box.update(saved))
    reports = []
    stopped = train(tiny_config("dcgan", max_iter=15), collect(reports), tmp_path, data=data,
                    log=quiet, evaluate=evaluate, extra_state=extra,
                    should_stop=lambda: box["critic_steps"] == 2)
    assert stopped.status == "interrupted" and stopped.iteration == 10
    box["critic_steps"] = -100                          # a fresh process would not know it
    train(tiny_config("dcgan", max_iter=15), collect(reports), tmp_path, data=data, log=quiet,
          evaluate=evaluate, extra_state=extra)
    assert [(i, m["critic_steps"]) for i, m in reports] == [(5, 1), (10, 2), (15, 3)]


@pytest.mark.parametrize("device, enabled, deterministic, inside", [
    ("cuda", True, False, True),          # the default on a GPU
    ("cuda", False, False, False),        # cudnn_benchmark: false
    ("cuda", True, True, False),          # the caller asked cuDNN for deterministic algorithms
    ("cpu", True, False, False),          # no cuDNN
])
def test_cudnn_autotuning_on_cuda_only_and_restored(device, enabled, deterministic, inside):
    """Only the flags are set here (a torch.device("cuda") needs no GPU), so it runs anywhere."""
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=deterministic):
        with cudnn_autotuning(torch.device(device), enabled):
            assert torch.backends.cudnn.benchmark is inside
        assert torch.backends.cudnn.benchmark is False


def test_a_training_run_without_a_terminal_gets_progress_lines_not_a_bar(tmp_path, data, capsys):
    """nohup, a batch job's log, CI: tqdm's bar there was one line rewritten with a carriage return
    twice a second, megabytes of log over a long trial. Without a terminal, a line a minute, and
    one at the end."""
    from trainer import progress

    bar = progress.progress_bar(40, 10, "alphagan/digits")                 # pytest's stderr: no terminal
    assert isinstance(bar, progress.PlainProgress)
    bar.every_s = 0.0
    bar.set_postfix({"generator": "1.5", "discriminator": "0.7"}, refresh=False)
    bar.update()
    line = capsys.readouterr().err
    assert line.startswith("alphagan/digits: 11 / 40 it, ") and " it/s, about " in line, line
    assert line.endswith(" left | generator=1.5, discriminator=0.7\n"), line
    bar.close()
    assert capsys.readouterr().err == ""                                   # said already
    train(tiny_config(max_iter=6, report_every=3), checkpoint_dir=tmp_path / "run", data=data, progress=True)
    said = capsys.readouterr().err
    assert "\r" not in said and "6 / 6 it, " in said and "left" not in said.split("6 / 6 it, ")[1], said
