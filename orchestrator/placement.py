"""What a Ray Tune trial reserves: a placement group of two bundles, its own and its independent
critic's (so the critic can neither starve nor be starved), and torch threads per process."""

from __future__ import annotations

import dataclasses
import itertools
import math

from .settings import IndependentCriticSettings
from .sweep_spec import SweepSpec


def threads(cpus: float) -> int:
    """Torch threads for a CPU share: never more threads than cores reserved (oversubscribed
    OpenMP threads slow CPU training down by orders of magnitude)."""
    return max(1, round(cpus))


# Under gpus: auto, one trial's slot of a GPU (1/trials_per_gpu) holds the trial and its critic:
# the critic gets this fraction of the slot, so trials_per_gpu trials and their critics fit a GPU.
# The critic idles through the first half of a trial and then trains a small network for a few
# steps per report: a tenth of the slot is enough.
CRITIC_SLOT_FRACTION = 0.1


def ray_share(value: float) -> float:
    """Rounded down to Ray's resource granularity (1e-4), so that shares never add up to more."""
    return math.floor(value * 1e4 + 1e-9) / 1e4


def gpu_slot(trials_per_gpu: int) -> float:
    return ray_share(1.0 / trials_per_gpu)


def critic_auto_gpus(spec: SweepSpec, cluster_gpus: float) -> float:
    """The critic's share of its trial's GPU slot under gpus: auto (0 without GPU trials)."""
    critic = spec.independent_critic
    if not critic.enabled or critic.gpus != "auto" or cluster_gpus <= 0 or spec.device == "cpu":
        return 0.0
    return ray_share(gpu_slot(spec.trials_per_gpu) * CRITIC_SLOT_FRACTION)


def trial_gpus(spec: SweepSpec, cluster_gpus: float) -> float:
    """The trial's GPU share: under "auto" its slot of the GPU less its critic's share (none on
    CPU clusters or for trials with device: cpu); else the spec's number."""
    if spec.gpus != "auto":
        return float(spec.gpus)
    if spec.device == "cpu" or cluster_gpus <= 0:
        return 0.0
    return ray_share(gpu_slot(spec.trials_per_gpu) - critic_auto_gpus(spec, cluster_gpus))


def independent_critic(spec: SweepSpec, cluster_gpus: float) -> IndependentCriticSettings:
    """The spec's critic settings with its GPU share resolved: "auto" is a tenth of its trial's
    slot of the GPU (trials_per_gpu trials and their critics fit one GPU); none on CPU clusters."""
    critic = spec.independent_critic
    gpus = critic_auto_gpus(spec, cluster_gpus) if critic.gpus == "auto" else float(critic.gpus)
    return dataclasses.replace(critic, gpus=gpus)


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


def short_resources(needed: list[dict[str, float]], nodes: list[dict[str, float]]) -> list[str]:
    """The resources (CPU, GPU) that keep a trial's bundles from ever being placed on these nodes
    (each bundle on one node; PACK may spread a group's bundles over several); [] when they fit."""
    capacities: list[dict[str, float]] = []
    for node in nodes:          # nodes alike count once per bundle: a few hundred nodes stay cheap
        capacity = {kind: node.get(kind, 0.0) for kind in ("CPU", "GPU")}
        if capacities.count(capacity) < len(needed):
            capacities.append(capacity)

    def fits(kinds: tuple[str, ...]) -> bool:
        for where in itertools.product(range(len(capacities)), repeat=len(needed)):
            used: dict[int, dict[str, float]] = {}
            for bundle, node in zip(needed, where, strict=True):
                for kind in kinds:
                    used.setdefault(node, dict.fromkeys(kinds, 0.0))[kind] += bundle.get(kind, 0.0)
            if all(used[n][k] <= capacities[n][k] + 1e-9 for n in used for k in kinds):
                return True
        return False

    if fits(("CPU", "GPU")):
        return []
    return [kind for kind in ("CPU", "GPU") if not fits((kind,))] or ["CPU", "GPU"]
