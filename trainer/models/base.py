"""What every model shares: its networks, one Adam optimizer per network, the prior, and the
rule that each network is updated with the gradient of its own loss only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ..config import TrialConfig
from ..networks import DATASET_ARCHITECTURE, Architecture


class Algorithm:
    """Base class. Subclasses give their networks (``build_networks``) and implement ``losses`` and
    ``step_tensors``.

    Loss keys equal network names: network ``name`` minimizes ``losses(x, z)[name]``.
    All randomness of a step (prior samples, interpolation weights) is drawn from ``self.rng``,
    a generator on the training device that is saved in checkpoints.
    """

    name = "base"
    #: real batches consumed by one ``step`` (WGAN-GP: one per critic update)
    real_batches_per_step = 1
    has_encoder = False
    #: methods computing losses from network outputs, for fused training (trainer/fused.py)
    loss_terms: tuple[str, ...] = ()
    #: methods of the step that draw from ``self.rng`` (CUDA graphs draw them outside the graph)
    random_draw_methods: tuple[str, ...] = ("sample_prior",)
    #: the values ``step`` returns (and a trial reports): its losses
    reported: tuple[str, ...] = ()

    def __init__(self, cfg: TrialConfig, device: torch.device):
        self.cfg = cfg
        self.device = device
        self.arch = DATASET_ARCHITECTURE[cfg.dataset]
        self.rng = torch.Generator(device=device)
        self.rng.manual_seed(cfg.seed)
        self.nets: dict[str, nn.Module] = self.build_networks(cfg, self.arch)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self._finish_build()

    # ------------------------------------------------------------------ construction
    @staticmethod
    def build_networks(cfg: TrialConfig, arch: Architecture) -> dict[str, nn.Module]:
        """The model's networks by name, on the default device (``torch.device("meta")`` in a
        ``with`` block: their shapes without their memory)."""
        raise NotImplementedError

    def _finish_build(self) -> None:
        """Move networks to the device (in channels-last layout with ``channels_last: true``) and
        give each its Adam optimizer (betas 0.5, 0.9)."""
        layout = torch.channels_last if self.cfg.channels_last else torch.preserve_format
        for name, net in self.nets.items():
            # 4-d weights only: a convolution with channels-last weights gives channels-last
            # activations, and its gradients keep the layout (update() matches the strides)
            net.to(self.device, memory_format=layout).train()
            # fused: one kernel for all of a network's parameters (CPU and CUDA), same update rule
            self.optimizers[name] = torch.optim.Adam(
                net.parameters(), lr=self.learning_rate(name),
                betas=(self.cfg.adam_beta1, self.cfg.adam_beta2), fused=True)

    def learning_rate(self, net_name: str) -> float:
        if net_name in ("generator", "encoder"):
            return self.cfg.lr_generator
        if net_name == "code_discriminator":
            return self.cfg.lr_code_discriminator
        return self.cfg.lr_discriminator

    # ------------------------------------------------------------------ the algorithm
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z): standard normal (Appendix H.3)."""
        return torch.randn(n, self.cfg.latent_dim, device=self.device,
                           generator=generator if generator is not None else self.rng)

    def random_draws(self) -> list[tuple[object, str]]:
        """(object, method) pairs through which the step draws its randomness."""
        return [(self, name) for name in self.random_draw_methods]

    def losses(self, x: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def step_tensors(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One iteration of the model's update schedule; returns detached 0-dim loss tensors
        (no host synchronisation)."""
        raise NotImplementedError

    def precision(self) -> contextlib.AbstractContextManager:
        """Where the step runs: under bfloat16 autocast with ``precision: bf16`` (convolutions and
        matrix products in bf16; parameters, gradients and Adam stay fp32), else as it is.

        Autocast's cast cache is off: it keys a weight's bf16 copy by the tensor, not its version,
        so after an update inside the step the networks would run on their weights of the step's
        start (and a CUDA graph cannot capture the cache)."""
        if self.cfg.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    def step(self, x: torch.Tensor) -> dict[str, float]:
        with self.precision():
            losses = self.step_tensors(x)
        return {key: float(value) for key, value in losses.items()}

    def update(self, net_name: str, loss: torch.Tensor) -> None:
        """One Adam step of ``net_name`` on the gradient of ``loss`` w.r.t. its parameters only."""
        params = [p for p in self.nets[net_name].parameters()]
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads, strict=True):
            p.grad = in_parameter_layout(p, g)          # some backward kernels return another layout
        self.optimizers[net_name].step()

    # ------------------------------------------------------------------ inference
    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Eval mode (batch norm running statistics) and no grad; restores the previous modes."""
        modes = {name: net.training for name, net in self.nets.items()}
        try:
            for net in self.nets.values():
                net.eval()
            with torch.no_grad():
                yield
        finally:
            for name, net in self.nets.items():
                net.train(modes[name])

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        with self.evaluating():
            return self.nets["generator"](z.to(self.device))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if not self.has_encoder:
            raise TypeError(f"{self.name} has no encoder")
        with self.evaluating():
            return self.nets["encoder"](x.to(self.device))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.generate(self.encode(x))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "nets": {name: net.state_dict() for name, net in self.nets.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "rng": self.rng.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state["nets"][name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
            _moments_in_parameter_layout(opt)
        self.rng.set_state(state["rng"])


def in_parameter_layout(param: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``value`` (a gradient or an Adam moment of ``param``) in ``param``'s memory layout: the
    fused Adam kernel reads them with the parameter's strides, so another layout would be read
    scrambled."""
    return value if value.stride() == param.stride() else torch.empty_like(param).copy_(value)


def _moments_in_parameter_layout(opt: torch.optim.Optimizer) -> None:
    """Adam's moments loaded from a checkpoint in the other layout (a trial with another
    ``channels_last``), in their parameters' layout."""
    for param, state in opt.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == param.shape:
                state[key] = in_parameter_layout(param, value)


def l1_reconstruction(x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
    """||x - x_rec||_1 as the mean absolute error over pixels and batch."""
    return (x - x_rec).abs().mean()


def batch_kl_to_standard_normal(codes: torch.Tensor) -> torch.Tensor:
    """eq 18 divided by the latent size n (Appendix D: "we divide the approximation in (18) by
    the latent size"; AGE's own KLN01Loss takes the mean over dimensions, and the AGE sweep's
    reconstruction weights are relative to that mean): KL(N(m, s^2) || N(0, I)) / n from the
    batch mean m_i and standard deviation s_i of each dimension,
    (1/n) sum_i [(s_i^2 + m_i^2) / 2 - log s_i - 1/2].
    (The paper prints the constant as +n/2; it does not change gradients. -n/2 makes the value
    the KL divergence, 0 for a standard normal batch.)"""
    mean = codes.mean(0)
    var = codes.var(0, unbiased=False)                 # s_i^2
    log_std = 0.5 * torch.log(var)                     # log s_i
    return ((var + mean ** 2) / 2 - log_std - 0.5).mean()
