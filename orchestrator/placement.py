"""What a Ray Tune trial reserves: a placement group of two bundles, its own and its independent
critic's (so the critic can neither starve nor be starved), and torch threads per process."""

from __future__ import annotations

import dataclasses

from .settings import IndependentCriticSettings
from .sweep_spec import SweepSpec


def threads(cpus: float) -> int:
    """Torch threads for a CPU share: never more threads than cores reserved (oversubscribed
    OpenMP threads slow CPU training down by orders of magnitude)."""
    return max(1, round(cpus))


def resolve_gpus(value: float | str, trials_per_gpu: int, cluster_gpus: float) -> float:
    """A spec's GPU share: "auto" is one trial's share (1/trials_per_gpu) on GPU clusters, 0 otherwise."""
    if value == "auto":
        return round(1.0 / trials_per_gpu, 4) if cluster_gpus > 0 else 0.0
    return float(value)


def trial_gpus(spec: SweepSpec, cluster_gpus: float) -> float:
    """The trial's GPU share; "auto" gives none to trials with device: cpu."""
    if spec.device == "cpu" and spec.gpus == "auto":
        return 0.0
    return resolve_gpus(spec.gpus, spec.trials_per_gpu, cluster_gpus)


def independent_critic(spec: SweepSpec, cluster_gpus: float) -> IndependentCriticSettings:
    """The spec's critic settings with its GPU share resolved (none where the trials run on CPUs)."""
    critic = spec.independent_critic
    gpus = 0.0 if spec.device == "cpu" and critic.gpus == "auto" else critic.gpus
    return dataclasses.replace(critic, gpus=resolve_gpus(gpus, spec.trials_per_gpu, cluster_gpus))


def bundles(spec: SweepSpec, cluster_gpus: float) -> list[dict[str, float]]:
    """The trial's bundle, then (critic enabled) the critic's; zero resources left out."""
    result = [{"CPU": spec.cpus, "GPU": trial_gpus(spec, cluster_gpus)}]
    critic = independent_critic(spec, cluster_gpus)
    if critic.enabled:
        result.append({"CPU": critic.cpus, "GPU": critic.gpus})
    return [{k: v for k, v in b.items() if v > 0} for b in result]


def placement_group_factory(spec: SweepSpec, cluster_gpus: float):
    from ray import tune

    return tune.PlacementGroupFactory(bundles(spec, cluster_gpus), strategy="PACK")
