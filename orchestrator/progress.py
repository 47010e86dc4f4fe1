"""Live progress of a sweep: one concise line per trial report, at most every few seconds."""

from __future__ import annotations

import sys
import time

from ray.tune import Callback

SHOWN = ("generator", "discriminator", "critic_neg_w_test")


class ProgressLines(Callback):
    def __init__(self, total: int, every_s: float = 5.0):
        self.total = total
        self.every_s = every_s
        self.last = 0.0
        self.started = time.time()

    # Trials Ray completed in this run: normal ends and scheduler stops (an interruption
    # completes none). Kept on the class: on --resume Ray runs the instance unpickled from the
    # experiment, not the driver's.
    completed: set = set()

    def on_trial_complete(self, iteration, trials, trial, **info):
        ProgressLines.completed.add(trial.trial_id)

    @staticmethod
    def counts(trials) -> str:
        status = [t.status for t in trials]
        return (f"{status.count('RUNNING')} running, {status.count('TERMINATED')} done, "
                f"{status.count('ERROR')} failed, {status.count('PENDING')} pending")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        now = time.time()
        if now - self.last < self.every_s and "trial_status" not in result:
            return
        self.last = now
        shown = ", ".join(f"{k} {result[k]:.3g}" for k in SHOWN if isinstance(result.get(k), float))
        state = result.get("trial_status", f"iteration {result.get('iteration', '?'):,}")
        print(f"[{now - self.started:6.0f}s] {self.counts(trials)} of {self.total} | "
              f"{trial.trial_id}: {state}{' | ' + shown if shown else ''}", file=sys.stderr, flush=True)

    def on_trial_recover(self, iteration, trials, trial, **info):
        print(f"[{time.time() - self.started:6.0f}s] {self.counts(trials)} | {trial.trial_id} failed; "
              "Ray retries it from its last checkpoint", file=sys.stderr, flush=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        print(f"[{time.time() - self.started:6.0f}s] {self.counts(trials)} | {trial.trial_id} failed "
              "for good (max_failures reached)", file=sys.stderr, flush=True)
