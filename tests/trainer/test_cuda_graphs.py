"""cuda_graphs: the step's random draws are taken outside the step (what lets a CUDA graph replay
it with the trial's own random stream), which must give exactly the eager step; on a GPU the
graphed step must match the eager one. The CPU tests run everywhere; the GPU ones where CUDA is."""

import pytest
import torch

from trainer import ConfigError, TrialConfig, build_algorithm, load_dataset, train
from trainer.cuda_graphs import DrawTape, GraphedStep, make_step
from trainer.data import BatchSampler
from trainer.fused import FusedAlgorithm

from ..conftest import tiny_config

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="CUDA graphs need a CUDA device")


def quiet(message):
    pass


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", log=quiet)


def config(model, **overrides):
    # DCGAN's dropout draws from torch's global generator inside the graph: off for exact comparisons
    extra = dict(dcgan_dropout=0.0) if model == "dcgan" else {}
    return tiny_config(model, **extra, **overrides)


def stepper(kind, device="cpu", **overrides):
    """An algorithm, or for "fused" two α-GAN trials with different settings as one model."""
    if kind == "fused":
        return FusedAlgorithm([build_algorithm(tiny_config("alphagan", device=device, seed=s, recon_weight_encoder=w,
                                                           **overrides)) for s, w in ((0, 1.0), (1, 7.0))])
    return build_algorithm(config(kind, device=device, **overrides))


def batches(kind, algo, data, count, device="cpu"):
    per_step = 1 if kind == "fused" else algo.real_batches_per_step
    sampler = BatchSampler(data.train, 16, seed=3, device=torch.device(device))
    out = [sampler.next(per_step) for _ in range(count)]
    return [torch.stack([x, x.flip(0)]) for x in out] if kind == "fused" else out


def parameters(kind, algo):
    if kind == "fused":
        algo.sync()
        algos = algo.trials
    else:
        algos = [algo]
    return [p for a in algos for net in a.nets.values() for p in net.state_dict().values()]


@pytest.mark.parametrize("kind", ["alphagan", "dcgan", "wgangp", "age", "fused"])
def test_draws_taken_outside_the_step_give_the_eager_step(kind, data):
    """Record the draws in one step, then for each later step draw them first and serve them to
    the step: losses, weights and Adam state equal those of the eager trial bit for bit."""
    eager, served = stepper(kind), stepper(kind)
    xs = batches(kind, eager, data, 4)
    tape = DrawTape(served.random_draws())
    want = [eager.step_tensors(x) for x in xs]
    with tape.recording():
        got = [served.step_tensors(xs[0])]
    assert tape.calls, "the step drew nothing through its random_draws()"
    for x in xs[1:]:
        tape.draw()
        with tape.serving():
            got.append(served.step_tensors(x))
    for step, (w, g) in enumerate(zip(want, got, strict=True)):
        for key in w:
            assert torch.equal(g[key], w[key]), f"step {step} loss {key}"
    for w, g in zip(parameters(kind, eager), parameters(kind, served), strict=True):
        assert torch.equal(g, w)
    assert torch.equal(served.trials[0].rng.get_state() if kind == "fused" else served.rng.get_state(),
                       eager.trials[0].rng.get_state() if kind == "fused" else eager.rng.get_state())


class ReplayOnCpu(GraphedStep):
    """GraphedStep's own sequence (warm-up, recording, capture, draws and inputs before each
    replay, copied outputs) on the CPU: 'capturing' keeps the step, 'replaying' runs it on the
    static inputs with the served draws, as the CUDA graph would."""

    def _check_device(self, device):
        pass

    def _on_side_stream(self, step):
        return step()

    def _graph_of_step(self):
        self.outputs = {}
        return "captured"

    def _replay(self):
        with self.tape.serving():
            self.outputs = self.stepper.step_tensors(self.static_x)


class CaptureFails(ReplayOnCpu):
    def _graph_of_step(self):
        raise RuntimeError("operation not permitted when stream is capturing")


@pytest.mark.parametrize("kind", ["alphagan", "wgangp", "fused"])
@pytest.mark.parametrize("graphed", [ReplayOnCpu, CaptureFails])
def test_the_graphed_step_sequence_gives_the_eager_trial(kind, graphed, data):
    eager, other = stepper(kind), stepper(kind)
    messages = []
    step = graphed(other, torch.device("cpu"), warmup=2, log=messages.append)
    for n, x in enumerate(batches(kind, eager, data, 6)):
        want, got = eager.step_tensors(x), step(x)
        for key in want:
            assert torch.equal(got[key], want[key]), f"step {n} loss {key}"
    for w, g in zip(parameters(kind, eager), parameters(kind, other), strict=True):
        assert torch.equal(g, w)
    if graphed is CaptureFails:
        assert step.eager and len(messages) == 1 and "goes on without CUDA graphs" in messages[0]
    else:
        assert step.graph == "captured" and not messages


def test_a_step_whose_draws_changed_is_refused(data):
    algo = stepper("alphagan")
    tape = DrawTape(algo.random_draws())
    x = batches("alphagan", algo, data, 1)[0]
    with tape.recording():
        algo.step_tensors(x)
    tape.draw()
    with tape.serving(), pytest.raises(RuntimeError, match="random draws changed"):
        algo.step_tensors(x[:8])                    # another batch size asks for other draws
    assert "sample_prior" not in algo.__dict__      # the methods are restored


def test_cuda_graphs_need_a_cuda_device():
    with pytest.raises(ConfigError, match="cuda_graphs: CUDA graphs need a CUDA device"):
        TrialConfig(model="alphagan", dataset="synthetic", device="cpu", cuda_graphs=True)
    with pytest.raises(ConfigError, match="cuda_graphs: must be true, false or auto"):
        TrialConfig(model="alphagan", dataset="synthetic", cuda_graphs="yes")
    with pytest.raises(ConfigError, match="cuda_graphs: CUDA graphs need a CUDA device"):
        GraphedStep(stepper("alphagan"), torch.device("cpu"))


@needs_cuda
@pytest.mark.parametrize("kind", ["alphagan", "wgangp", "age", "dcgan", "fused"])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "bf16 channels_last"])
def test_graphed_step_matches_the_eager_step_on_cuda(kind, precision, data):
    if "bf16" in precision and kind == "wgangp":
        pytest.skip("bf16 is refused for wgangp")
    if "channels_last" in precision and kind == "fused":
        pytest.skip("channels_last is for unfused trials")
    settings = dict(precision=precision.split()[0], channels_last="channels_last" in precision)
    eager, graphed = stepper(kind, "cuda", **settings), stepper(kind, "cuda", **settings)
    step = GraphedStep(graphed, torch.device("cuda"), warmup=2, log=pytest.fail)
    precision_of = (graphed.trials[0] if kind == "fused" else graphed).precision
    with torch.backends.cudnn.flags(enabled=True, deterministic=True, benchmark=False):
        for x in batches(kind, eager, data, 8, "cuda"):
            with precision_of():
                want = eager.step_tensors(x)
                got = step(x)
            for key in want:
                torch.testing.assert_close(got[key], want[key], rtol=1e-3, atol=1e-5)
    assert step.graph is not None and not step.eager
    for w, g in zip(parameters(kind, eager), parameters(kind, graphed), strict=True):
        torch.testing.assert_close(g.float(), w.float(), rtol=1e-3, atol=1e-5)


@needs_cuda
def test_a_graphed_trial_resumes_eager_and_matches_an_eager_trial(tmp_path, data):
    """Interrupted after 6 graphed iterations, resumed without graphs: the report at 12 equals an
    eager trial's (the checkpoint holds the graphed trial's weights, Adam state and generator)."""
    settings = dict(device="cuda", max_iter=12, report_every=6)
    reports, messages = [], []
    with torch.backends.cudnn.flags(enabled=True, deterministic=True, benchmark=False):
        first = train(tiny_config("alphagan", cuda_graphs=True, **settings), reports.append,
                      checkpoint_dir=tmp_path / "graphed", data=data, log=messages.append,
                      should_stop=lambda: len(reports) > 0)
        assert first.status == "interrupted" and first.iteration == 6
        assert not [m for m in messages if "cuda_graphs" in m], messages       # the step was captured
        resumed = train(tiny_config("alphagan", **settings), checkpoint_dir=tmp_path / "graphed", data=data,
                        log=quiet)
        eager = train(tiny_config("alphagan", **settings), checkpoint_dir=tmp_path / "eager", data=data, log=quiet)
    assert resumed.status == eager.status == "finished"
    for key in ("encoder", "generator", "discriminator", "code_discriminator"):
        assert resumed.metrics[key] == pytest.approx(eager.metrics[key], rel=1e-3, abs=1e-5), key


def test_auto_graphs_the_step_on_cuda_only():
    """cuda_graphs: auto (the default): the eager step on the CPU, a CUDA graph where the trial
    runs on a GPU, so the paper's specs get the fast path without edits."""
    cfg = TrialConfig(model="alphagan", dataset="synthetic", device="cpu", width=0.125, batch_size=16, latent_dim=8)
    assert cfg.cuda_graphs == "auto"
    stepper = build_algorithm(cfg)
    assert make_step(stepper, cfg, torch.device("cpu")) == stepper.step_tensors
    if torch.cuda.is_available():
        gpu = TrialConfig(model="alphagan", dataset="synthetic", device="cuda", width=0.125, batch_size=16,
                          latent_dim=8)
        assert isinstance(make_step(build_algorithm(gpu), gpu, torch.device("cuda")), GraphedStep)
