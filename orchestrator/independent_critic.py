"""The independent Wasserstein critic of a trial as a Ray actor (the paper's sample-quality
metric, Section 5; not the WGAN-GP model's own critic). It lives in bundle 1 of its trial's
placement group, its process starts with the trial and it trains from half of max_iter on, fed
the generator's weights at every report. With actor reuse a warm actor serves the worker's next
trial in the same placement group (no new process, torch imported, data loaded once)."""

from __future__ import annotations

from typing import Any

import ray
import torch
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from trainer import TrialConfig, build_algorithm
from trainer.metrics import IndependentCritic

from .placement import ray_share
from .settings import IndependentCriticSettings
from .worker_data import trial_data

CRITIC_BUNDLE = 1                       # the placement-group bundle reserved for the critic
RESET_TIMEOUT_S = 120


class CriticStartError(RuntimeError):
    """The critic could not be set up for its trial (e.g. its data is missing on its node): no
    restart helps; the message is the original error's."""


@ray.remote
class IndependentCriticActor:
    """One trial's independent critic; ``reset`` points it at a (new) trial. A reset that fails
    is kept and raised by the next call (``CriticStartError`` with the original message)."""

    def __init__(self, threads: int):
        torch.set_num_threads(threads)
        self.device = "cuda" if ray.get_gpu_ids() else "cpu"
        self.failure: str | None = "not reset for a trial"

    def reset(self, hyperparameters: dict[str, Any], data_root: str | None, state: dict | None = None,
              width: float | None = None) -> None:
        try:
            cfg = TrialConfig.from_dict({**hyperparameters, "device": self.device, "data_root": data_root})
            self.algo = build_algorithm(cfg)           # its generator holds the trial's weights
            data = trial_data(cfg, log=lambda m: None)
            self.critic = IndependentCritic(self.algo.arch, data.val, data.test, device=self.device,
                                            width=width or cfg.width, seed=cfg.seed)
            if state is not None:
                self.critic.load_state_dict(state)
        except Exception as err:  # noqa: BLE001 - said by the next call, in the trial's run
            self.failure = f"{type(err).__name__}: {err}"
        else:
            self.failure = None

    def _sample(self, n: int) -> torch.Tensor:
        return self.algo.generate(self.algo.sample_prior(n, generator=self.critic.rng))

    def _started(self) -> None:
        if self.failure is not None:
            raise CriticStartError(self.failure)

    def advance(self, generator_state: dict, steps: int) -> tuple[dict[str, float], dict]:
        """Train ``steps`` more steps against the generator ``generator_state``; its -W now, and
        the critic's state after it (what the trial's next checkpoint keeps)."""
        self._started()
        self.algo.nets["generator"].load_state_dict(generator_state)
        self.critic.train(self._sample, steps)
        metrics = {"critic_neg_w_val": self.critic.neg_w_validation(self._sample),
                   "critic_neg_w_test": self.critic.neg_w_test(self._sample),
                   "critic_steps": float(self.critic.steps)}
        return metrics, self.critic.state_dict()

    def state(self) -> dict:
        self._started()
        return self.critic.state_dict()


# This worker process's critic actor, kept warm between the trials it runs (Ray Tune reuses the
# worker, and its placement group, for the next trial with the same resources).
_WARM: dict[str, tuple[str | None, Any]] = {}


def placement_group_key() -> str | None:
    pg = ray.util.get_current_placement_group()
    return pg.id.hex() if pg is not None else None


def keep_warm(actor) -> None:
    """Keep ``actor`` for the next trial this worker runs in the same placement group."""
    _WARM["actor"] = (placement_group_key(), actor)


def _reuse_warm(hyperparameters: dict, data_root: str | None, state: dict | None, width: float | None):
    warm = _WARM.pop("actor", None)
    if warm is None:
        return None
    key, actor = warm
    if key == placement_group_key():
        try:
            ray.get(actor.reset.remote(hyperparameters, data_root, state, width), timeout=RESET_TIMEOUT_S)
            return actor
        except (ray.exceptions.RayError, TimeoutError):          # died, or stuck
            pass
    ray.kill(actor)
    return None


def actor_options(critic: IndependentCriticSettings, share: int) -> dict[str, Any]:
    """The actor's resources: its bundle split between ``share`` trials (fused trials). Ray counts
    resources in steps of 1e-4: each share is rounded down so that N shares fit the bundle."""
    options: dict[str, Any] = {"num_cpus": ray_share(critic.cpus / share),
                               "num_gpus": ray_share(float(critic.gpus) / share)}
    pg = ray.util.get_current_placement_group()
    if pg is not None:
        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            placement_group=pg, placement_group_bundle_index=CRITIC_BUNDLE)
    return options


def critic_for_trial(critic: IndependentCriticSettings, data_root: str | None, hyperparameters: dict,
                     state: dict | None, share: int = 1):
    """The trial's critic actor: the warm one of the previous trial when it lives in the same
    placement group, else a new one. Returns at once; a new actor starts while the trial trains.
    ``state``: the critic's state from the trial's checkpoint (a resumed trial)."""
    if share == 1 and (actor := _reuse_warm(hyperparameters, data_root, state, critic.width)) is not None:
        return actor
    threads = max(1, round(critic.cpus / share))
    actor = IndependentCriticActor.options(**actor_options(critic, share)).remote(threads)
    actor.reset.remote(hyperparameters, data_root, state, critic.width)      # runs before any other call
    return actor
