"""The independent critic's Ray actor and its helpers, on a real local Ray instance with the
embedded digits: it continues exactly from a saved state, a warm actor serves the next trial of its
placement group (and only of it), resources split between fused trials, the worker's data cache."""

import pytest
import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from orchestrator import independent_critic, worker_data
from orchestrator.independent_critic import (
    CRITIC_BUNDLE,
    CriticStartError,
    actor_options,
    critic_for_trial,
    keep_warm,
)
from orchestrator.settings import IndependentCriticSettings
from orchestrator.trial_harness import error_message
from trainer import TrialConfig

from .critic_helpers import CRITIC_TEST_TRIAL, initial_generator_state

HP = {**CRITIC_TEST_TRIAL, "seed": 3}
CRITIC = IndependentCriticSettings(enabled=True, steps_per_report=4, cpus=0.5, gpus=0.0)


@pytest.fixture(scope="module")
def generator_state():
    return initial_generator_state(HP)


def test_a_critic_resumed_from_its_state_continues_exactly(local_ray, generator_state):
    straight = critic_for_trial(CRITIC, None, HP, None)
    ray.get(straight.advance.remote(generator_state, 4))
    state = ray.get(straight.state.remote())
    want, _ = ray.get(straight.advance.remote(generator_state, 4))
    resumed = critic_for_trial(CRITIC, None, HP, state)        # a retried trial's new actor
    got, _ = ray.get(resumed.advance.remote(generator_state, 4))
    assert want["critic_steps"] == got["critic_steps"] == 8.0
    assert got == want
    fresh = critic_for_trial(CRITIC, None, HP, None)
    assert ray.get(fresh.advance.remote(generator_state, 4))[0]["critic_steps"] == 4.0
    for actor in (straight, resumed, fresh):
        ray.kill(actor)


@ray.remote(num_cpus=0.5)
def warm_reuse(hp: dict) -> dict:
    """Inside a trial's placement group, as a trial's worker: the actor kept warm is the next
    trial's; one kept by another placement group is replaced."""
    first = critic_for_trial(CRITIC, None, hp, None)
    keep_warm(first)
    second = critic_for_trial(CRITIC, None, {**hp, "seed": hp["seed"] + 1}, None)
    keep_warm(second)
    key, actor = independent_critic._WARM["actor"]
    independent_critic._WARM["actor"] = ("another placement group", actor)
    third = critic_for_trial(CRITIC, None, hp, None)
    ids = [a._actor_id.hex() for a in (first, second, third)]
    ray.kill(third)
    return {"ids": ids, "key": key}


def test_a_warm_actor_serves_the_next_trial_of_its_placement_group_only(local_ray):
    pg = placement_group([{"CPU": 0.5}, {"CPU": 0.5}], strategy="PACK")
    ray.get(pg.ready())
    try:
        out = ray.get(warm_reuse.options(scheduling_strategy=PlacementGroupSchedulingStrategy(
            placement_group=pg, placement_group_bundle_index=0,
            placement_group_capture_child_tasks=True)).remote(HP))
    finally:
        remove_placement_group(pg)
    first, second, third = out["ids"]
    assert first == second                     # reused: reset for the next trial, no new process
    assert third != first                      # kept by another placement group: a new actor
    assert out["key"] == pg.id.hex()


def test_a_critic_that_cannot_start_says_why(local_ray, generator_state):
    """Its data missing on its node: the first call raises the start error, not a later one."""
    actor = critic_for_trial(CRITIC, None, {**HP, "dataset": "celeba"}, None)
    with pytest.raises(ray.exceptions.RayTaskError) as err:
        ray.get(actor.advance.remote(generator_state, 4))
    assert isinstance(err.value.cause, CriticStartError)
    assert str(err.value.cause).startswith("DatasetError: celeba needs its files")
    assert error_message(err.value).startswith("CriticStartError: DatasetError: celeba needs its files")
    ray.kill(actor)


def test_fused_trials_split_the_critic_bundle_rounded_down(local_ray):
    critic = IndependentCriticSettings(cpus=1.0, gpus=0.25)
    assert actor_options(critic, 1) == {"num_cpus": 1.0, "num_gpus": 0.25}
    three = actor_options(critic, 3)
    assert three == {"num_cpus": 0.3333, "num_gpus": 0.0833}
    assert 3 * three["num_cpus"] <= 1.0 and 3 * three["num_gpus"] <= 0.25
    assert CRITIC_BUNDLE == 1


def test_worker_data_is_loaded_once_per_dataset():
    cfg = TrialConfig.from_dict({**HP, "device": "cpu"})
    first = worker_data.trial_data(cfg, log=lambda m: None)
    assert worker_data.trial_data(TrialConfig.from_dict({**HP, "device": "cpu", "seed": 9}),
                                  log=lambda m: None) is first
    other = worker_data.trial_data(TrialConfig.from_dict({**HP, "dataset": "synthetic", "device": "cpu"}),
                                   log=lambda m: None)
    assert other is not first and other.name == "synthetic"
    assert worker_data.trial_data(cfg, log=lambda m: None) is not first         # one dataset at a time
