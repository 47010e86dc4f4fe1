"""Several trials of one model and architecture trained as one fused model.

The trials' parameters and buffers are stacked along a new leading trial dimension
(``torch.func.stack_module_state``) and every network runs once for all trials under
``torch.vmap`` (``functional_call`` on the stacked state); PyTorch turns the vmapped convolutions
into grouped ones, so a GPU runs the N small networks as one large one. Each trial keeps its own
data batches, prior samples (its own generator), learning rates, loss weights, Adam state and
batch-norm statistics: per trial the updates are those of the unfused trial, and the loss tests
compare them. The model's own ``step_tensors`` and loss methods run unchanged: a fused view of
the model replaces its networks, its ``update`` and its ``sample_prior``, and evaluates its loss
methods per trial under vmap with that trial's weights.

Only models whose step draws no randomness inside a network can be fused: α-GAN. (DCGAN's
discriminator uses dropout, WGAN-GP's gradient penalty differentiates inside the loss, and AGE's
losses differ in shape; they train unfused.)
"""

from __future__ import annotations

import copy
import inspect

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from .config import ConfigError
from .models import Algorithm

FUSABLE_MODELS = ("alphagan",)
#: settings that differ between fused trials: learning rates and loss weights (tensors with one
#: value per trial inside the losses), the seed, and each trial's own schedule
PER_TRIAL = ("seed", "max_iter", "report_every", "checkpoint_every", "sample_count", "lr_generator",
             "lr_discriminator", "lr_code_discriminator", "recon_weight_encoder", "recon_weight_generator",
             "adv_weight_generator", "adv_weight_encoder", "disc_real_weight")
#: why a fused model does not take channels_last (the sweep spec's check says it too)
UNFUSED_ONLY_CHANNELS_LAST = ("channels_last: true is for unfused trials: a fused model stacks the trials' weights "
                              "along a new first dimension, which has no channels-last layout")
LOSS_WEIGHTS = ("recon_weight_encoder", "recon_weight_generator", "adv_weight_generator",
                "adv_weight_encoder", "disc_real_weight")


def check_fusable(configs: list) -> None:
    """One clear error when the trials (their TrialConfigs) cannot share one fused model."""
    first = configs[0]
    if first.model not in FUSABLE_MODELS:
        raise ConfigError(f"fused training supports {', '.join(FUSABLE_MODELS)}, not {first.model}: "
                          "train these trials unfused (resources.fuse_trials: 1)")
    if first.prior_matching != "code_discriminator":
        raise ConfigError(f"fused training supports prior_matching: code_discriminator, not {first.prior_matching}: "
                          "train these trials unfused (resources.fuse_trials: 1)")
    if first.channels_last:
        raise ConfigError(f"{UNFUSED_ONLY_CHANNELS_LAST}; set channels_last: false or train unfused "
                          "(resources.fuse_trials: 1)")
    shared = [name for name in first.to_dict() if name not in PER_TRIAL + ("data_root",)]
    for cfg in configs[1:]:
        different = [f"{name} {getattr(first, name)!r} vs {getattr(cfg, name)!r}" for name in shared
                     if getattr(first, name) != getattr(cfg, name)]
        if different:
            raise ConfigError("fused trials must share the model, dataset and architecture; these differ: "
                              + "; ".join(different))


class FusedNet:
    """A network of N trials: called on inputs of shape [N, batch, ...], returns [N, batch, ...]."""

    def __init__(self, nets: list[nn.Module]):
        params, self.buffers = stack_module_state(nets)
        self.params = params                                       # leaves, [N, ...] each
        self.names = list(params)
        self.template = copy.deepcopy(nets[0]).to("meta")         # structure and train/eval mode only

    def _one(self, params, buffers, x):
        return functional_call(self.template, (params, buffers), (x,))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # batch norm updates each trial's running statistics in place, in the stacked buffers
        return torch.vmap(self._one)(self.params, self.buffers, x)


class PerTrialAdam:
    """Adam on stacked parameters with one learning rate per trial; the update of each trial's
    slice is torch.optim.Adam's: m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(self, params: list[torch.Tensor], lrs: torch.Tensor, betas: tuple[float, float],
                 eps: float, states: list[list[dict]]):
        self.params, self.betas, self.eps = params, betas, eps
        n = lrs.shape[0]
        self.shapes = [(n,) + (1,) * (p.dim() - 1) for p in params]
        self.lrs = lrs
        # states[trial][param]: torch.optim.Adam's per-parameter state, empty for a new trial
        self.steps = torch.tensor([float(s[0]["step"]) if s and s[0] else 0.0 for s in states],
                                  device=lrs.device, dtype=torch.float32)
        self.exp_avg = [torch.stack([s[i]["exp_avg"] if s and s[i] else torch.zeros_like(p[0])
                                     for s in states]) for i, p in enumerate(params)]
        self.exp_avg_sq = [torch.stack([s[i]["exp_avg_sq"] if s and s[i] else torch.zeros_like(p[0])
                                        for s in states]) for i, p in enumerate(params)]

    @torch.no_grad()
    def step(self, grads: tuple[torch.Tensor, ...]) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        steps = self.steps.double()
        correction1 = 1 - torch.pow(beta1, steps)
        correction2_sqrt = (1 - torch.pow(beta2, steps)).sqrt()
        step_size = (self.lrs / correction1).to(self.params[0].dtype)
        correction2_sqrt = correction2_sqrt.to(self.params[0].dtype)
        torch._foreach_lerp_(self.exp_avg, list(grads), 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sq, beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - beta2)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, [correction2_sqrt.view(s) for s in self.shapes])
        torch._foreach_add_(denom, self.eps)
        update = torch._foreach_div(self.exp_avg, denom)
        torch._foreach_mul_(update, [step_size.view(s) for s in self.shapes])
        torch._foreach_sub_(self.params, update)

    def trial_state(self, trial: int, param: int) -> dict[str, torch.Tensor]:
        return {"step": self.steps[trial].clone(), "exp_avg": self.exp_avg[param][trial].clone(),
                "exp_avg_sq": self.exp_avg_sq[param][trial].clone()}


class _TrialConfig:
    """A trial's config inside a vmapped loss: its loss weights are that trial's slice."""

    def __init__(self, cfg, weights: dict[str, torch.Tensor]):
        self._cfg, self._weights = cfg, weights

    def __getattr__(self, name):
        return self._weights[name] if name in self._weights else getattr(self._cfg, name)


class _TrialSelf:
    def __init__(self, cfg):
        self.cfg = cfg


class FusedAlgorithm:
    """N trials' algorithms stepped as one. ``step_tensors(x)`` takes [N, batch, C, H, W] and
    returns each loss as a tensor of N values. The trials' own :class:`Algorithm` objects stay
    the per-trial view: :meth:`sync` writes the fused weights, statistics and Adam state back into
    them (for sample grids, metrics and checkpoints, which keep the unfused format)."""

    def __init__(self, algorithms: list[Algorithm]):
        check_fusable([a.cfg for a in algorithms])
        self.trials = algorithms
        first = algorithms[0]
        self.model_class = type(first)
        self.real_batches_per_step = first.real_batches_per_step
        device = first.device
        self.nets = {name: FusedNet([a.nets[name] for a in algorithms]) for name in first.nets}
        self.optimizers: dict[str, PerTrialAdam] = {}
        for name, fused in self.nets.items():
            group = first.optimizers[name].param_groups[0]
            lrs = torch.tensor([a.optimizers[name].param_groups[0]["lr"] for a in algorithms], device=device,
                               dtype=torch.float64)
            states = [[a.optimizers[name].state.get(p, {}) for p in a.nets[name].parameters()]
                      for a in algorithms]
            self.optimizers[name] = PerTrialAdam([fused.params[k] for k in fused.names], lrs,
                                                 group["betas"], group["eps"], states)
        dtype = next(iter(first.nets["generator"].parameters())).dtype
        self.weights = {name: torch.tensor([getattr(a.cfg, name) for a in algorithms], device=device, dtype=dtype)
                        for name in LOSS_WEIGHTS}
        self.view = self._fused_view(first)
        self._synced_steps: torch.Tensor | None = None

    def _fused_view(self, first: Algorithm) -> Algorithm:
        """The model's own object with fused networks, updates, prior and per-trial losses."""
        view = object.__new__(self.model_class)
        view.cfg, view.device, view.arch = first.cfg, first.device, first.arch
        view.nets = self.nets
        view.update = self.update
        view.sample_prior = self.sample_prior
        for name in self.model_class.loss_terms:
            setattr(view, name, self._per_trial(name))
        return view

    def _per_trial(self, method_name: str):
        method = getattr(self.model_class, method_name)
        static = isinstance(inspect.getattr_static(self.model_class, method_name), staticmethod)
        cfg = self.trials[0].cfg

        def one_trial(weights, *args):
            return method(*args) if static else method(_TrialSelf(_TrialConfig(cfg, weights)), *args)

        return lambda *args: torch.vmap(one_trial)(self.weights, *args)

    # ------------------------------------------------------------------ the fused step
    def sample_prior(self, n: int, generator=None) -> torch.Tensor:
        """Each trial's z ~ p(z) from its own generator: the samples of the unfused trial. The
        model asks for ``x.shape[0]`` samples, which in the fused view is the trial count: the
        batch size is that of the batch being stepped."""
        return torch.stack([a.sample_prior(self._batch_size) for a in self.trials])

    def update(self, net_name: str, loss: torch.Tensor) -> None:
        """One Adam step of every trial's ``net_name`` on the gradient of that trial's loss: the
        trials share no parameter, so the gradient of the sum is each trial's own gradient."""
        fused = self.nets[net_name]
        grads = torch.autograd.grad(loss.sum(), [fused.params[k] for k in fused.names])
        self.optimizers[net_name].step(grads)

    def step_tensors(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._batch_size = x.shape[1]
        return self.model_class.step_tensors(self.view, x)

    def random_draws(self) -> list[tuple[object, str]]:
        """What the fused step draws its randomness through (trainer/cuda_graphs.py)."""
        return [(self.view, "sample_prior")]

    # ------------------------------------------------------------------ per-trial views
    @torch.no_grad()
    def sync(self) -> None:
        """Write the fused state into each trial's own networks and optimizers (when any update
        happened since the last sync: the Adam step counts tell, also under CUDA graphs)."""
        steps = torch.stack([adam.steps for adam in self.optimizers.values()])
        if self._synced_steps is not None and torch.equal(steps, self._synced_steps):
            return
        for n, algo in enumerate(self.trials):
            for name, fused in self.nets.items():
                net = algo.nets[name]
                for pname, p in net.named_parameters():
                    p.copy_(fused.params[pname][n])
                for bname, b in net.named_buffers():
                    b.copy_(fused.buffers[bname][n])
                optimizer, adam = algo.optimizers[name], self.optimizers[name]
                for i, p in enumerate(net.parameters()):
                    optimizer.state[p] = adam.trial_state(n, i)
        self._synced_steps = steps


def split(losses: dict[str, torch.Tensor], n: int) -> list[dict[str, torch.Tensor]]:
    """Per-trial loss dicts from the fused step's [N] tensors."""
    return [{key: value[i] for key, value in losses.items()} for i in range(n)]


__all__ = ["FusedAlgorithm", "FUSABLE_MODELS", "UNFUSED_ONLY_CHANNELS_LAST", "check_fusable", "split"]
