"""The critic beside its trial (orchestrator/critic_pipeline.py), on a real local Ray instance:
its figures are those of the blocking critic for the same snapshots, each at its snapshot's
iteration; a trial resumed from a checkpoint taken while the critic worked continues it exactly;
handing a snapshot does not wait for the critic."""

import pytest
import ray
import torch

from orchestrator.critic_pipeline import CriticPipeline
from orchestrator.independent_critic import critic_for_trial
from orchestrator.settings import IndependentCriticSettings

from .critic_helpers import CRITIC_TEST_TRIAL, initial_generator_state

HP = {**CRITIC_TEST_TRIAL, "seed": 5}
CRITIC = IndependentCriticSettings(enabled=True, steps_per_report=3, cpus=0.5, gpus=0.0)


@pytest.fixture(scope="module")
def snapshots():
    """Four generators, as a training trial's reports hand them over (iterations 10, 12, 14, 16)."""
    base = initial_generator_state(HP)
    noise = torch.Generator().manual_seed(0)
    result = []
    for iteration in (10, 12, 14, 16):
        result.append((iteration, {k: v + 0.05 * torch.randn(v.shape, generator=noise) if v.is_floating_point() else v
                                   for k, v in base.items()}))
    return result


def actor_maker(state=None):
    made = []

    def actor(current):                         # made once, from ``state``, as the trial's harness does
        if not made:
            made.append(critic_for_trial(CRITIC, None, HP, state))
        return made[0]
    return actor, made


def blocking_figures(snapshots):
    actor = critic_for_trial(CRITIC, None, HP, None)
    figures = [(iteration, ray.get(actor.advance.remote(generator, CRITIC.steps_per_report))[0])
               for iteration, generator in snapshots]
    ray.kill(actor)
    return figures


def test_figures_beside_the_trial_equal_the_blocking_critics(local_ray, snapshots):
    want = blocking_figures(snapshots)
    actor, made = actor_maker()
    pipeline = CriticPipeline(actor, CRITIC.steps_per_report)
    got = []
    for iteration, generator in snapshots:
        got += pipeline.hand(iteration, generator)          # the figures of the snapshot before
        assert [i for i, _ in got] == [i for i, _ in snapshots if i < iteration]
    got += pipeline.collect()                               # the trial's end
    assert got == want
    assert [m["critic_steps"] for _, m in got] == [3.0, 6.0, 9.0, 12.0]
    ray.kill(made[0])


def test_a_trial_resumed_mid_snapshot_continues_the_critic_exactly(local_ray, snapshots):
    want = blocking_figures(snapshots)
    actor, made = actor_maker()
    pipeline = CriticPipeline(actor, CRITIC.steps_per_report)
    before = pipeline.hand(*snapshots[0]) + pipeline.hand(*snapshots[1])
    saved = pipeline.checkpoint()                 # what the checkpoint at iteration 12 holds
    assert saved["snapshot"]["iteration"] == 12 and saved["state"]["steps"] == 3
    ray.kill(made[0])                             # the trial's node dies here
    resumed_actor, remade = actor_maker(saved["state"])
    resumed = CriticPipeline(resumed_actor, CRITIC.steps_per_report, saved["state"], saved["snapshot"])
    after = resumed.hand(*snapshots[2]) + resumed.hand(*snapshots[3]) + resumed.collect()
    assert before + after == want
    ray.kill(remade[0])


def test_handing_a_snapshot_does_not_wait_for_the_critic(local_ray, snapshots):
    """hand() returns while the critic still trains on the snapshot (its answer is not ready)."""
    slow = IndependentCriticSettings(enabled=True, steps_per_report=200, cpus=0.5, gpus=0.0)
    actor = critic_for_trial(slow, None, HP, None)
    ray.get(actor.advance.remote(snapshots[0][1], 1))       # started and warm
    pipeline = CriticPipeline(lambda state: actor, slow.steps_per_report)
    assert pipeline.hand(*snapshots[1]) == []
    ready, _ = ray.wait([pipeline.working.result], timeout=0)
    assert not ready                                         # the trial went on before the critic was done
    (iteration, metrics), = pipeline.collect()
    assert iteration == snapshots[1][0] and metrics["critic_steps"] == 201.0
    ray.kill(actor)
