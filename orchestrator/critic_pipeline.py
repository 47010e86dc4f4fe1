"""The independent critic beside its trial, not in its way.

At a report the trial hands the critic a snapshot of its generator and goes on training; the
critic trains against that snapshot and scores it while the trial runs. Its figures are collected
at the next report (waiting only if the critic is not done by then) or at the trial's end, and
recorded at the snapshot's iteration. A critic works through the snapshots in the order handed,
so its figures are the ones a blocking critic gives for the same snapshots.

What a trial's checkpoint holds of it: the critic's state after the last snapshot it finished,
and the snapshot it is working on. A trial resumed from that checkpoint hands the snapshot to its
new critic again, so the critic continues exactly where it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
import torch

Figures = list[tuple[int, dict[str, float]]]       # (snapshot's iteration, the critic's metrics)


@dataclass
class Snapshot:
    iteration: int
    generator: dict[str, torch.Tensor]
    result: Any = None                           # the actor's pending answer (an ObjectRef)


class CriticPipeline:
    """One trial's critic actor and the snapshot it is working on. ``actor(state)`` returns the
    trial's critic actor (made, where there is none, from the critic's last finished ``state``);
    ``wait``: collect each snapshot's figures at once (the blocking critic, for comparisons)."""

    def __init__(self, actor: Callable[[dict | None], Any], steps: int, state: dict | None = None,
                 snapshot: dict | None = None, wait: bool = False):
        self.actor, self.steps, self.wait = actor, steps, wait
        self.state = state                       # the critic's state after its last finished snapshot
        self.working: Snapshot | None = None
        if snapshot is not None:                 # a resumed trial: the critic's unfinished snapshot again
            self._hand(Snapshot(snapshot["iteration"], snapshot["generator"]))

    def hand(self, iteration: int, generator: dict[str, torch.Tensor]) -> Figures:
        """Give the critic the generator of ``iteration``; returns the figures of the snapshot it
        finished before (and, with ``wait``, of this one)."""
        figures = self.collect()
        self._hand(Snapshot(iteration, {k: v.detach().cpu().clone() for k, v in generator.items()}))
        return figures + (self.collect() if self.wait else [])

    def _hand(self, snapshot: Snapshot) -> None:
        snapshot.result = self.actor(self.state).advance.remote(snapshot.generator, self.steps)
        self.working = snapshot

    def collect(self) -> Figures:
        """The figures of the snapshot the critic works on, once it is done (waits for it)."""
        if self.working is None:
            return []
        snapshot, self.working = self.working, None
        metrics, self.state = ray.get(snapshot.result)
        return [(snapshot.iteration, metrics)]

    def drop(self) -> None:
        """Forget the snapshot in work (its critic failed: it restarts from ``state``)."""
        self.working = None

    def checkpoint(self) -> dict[str, Any]:
        working = None if self.working is None else {"iteration": self.working.iteration,
                                                     "generator": self.working.generator}
        return {"state": self.state, "snapshot": working}
