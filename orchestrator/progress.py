"""Live progress of a sweep: one concise line per trial report, at most every few seconds, with
how far the reporting trial is and an estimate of the sweep's time left."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from ray.tune import Callback

from trainer import INTERRUPTED
from trainer.progress import duration

from . import layout
from .errors import DiskFullError
from .settings import trial_members

SHOWN = (("generator", layout.loss_metric), ("discriminator", layout.loss_metric),
         ("critic_neg_w_test", layout.critic_metric))
ENDED = ("TERMINATED", "ERROR")


def error_line(trial) -> str:
    """The last line of a failed trial's latest error in Ray Tune's error.txt (the exception's type
    and message), for the progress line; the whole traceback stays in that file."""
    try:
        lines = [line.strip() for line in Path(trial.error_file).read_text(errors="replace").splitlines()]
    except (OSError, TypeError):                   # no error file (yet)
        return ""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines if line]
    # "orchestrator.errors.DiskFullError: ..." -> "DiskFullError: ..."
    return re.sub(r"^(?:\w+\.)+(?=\w+: )", "", lines[-1])[:300] if lines else ""


def shown_values(result: dict) -> str:
    """The losses and the critic's −W of a report. The critic works beside its trial, so its figure
    is of an earlier snapshot of the generator than the report's iteration: that one is named."""
    shown = []
    for key, name in SHOWN:
        if isinstance(result.get(key), float):
            shown.append(f"{name(key)} {result[key]:.3g}")
            snapshot = result.get(layout.CRITIC_SNAPSHOT) if key.startswith(layout.CRITIC_PREFIX) else None
            if snapshot is not None and snapshot != result.get(layout.ITERATION):
                shown[-1] += f" (of iteration {int(snapshot):,})"
    return ", ".join(shown)


def trial_iterations(trial) -> tuple[int, int]:
    """(trials, max_iter) of a Ray Tune trial: one trial, or a fused group's members."""
    members = trial_members(trial.config["hp"])
    return len(members), max(int(hp["max_iter"]) for hp in members)


def report_every(trial) -> int:
    """How many iterations apart a Ray Tune trial (one trial, or a fused group) reports."""
    return min(int(hp["report_every"]) for hp in trial_members(trial.config["hp"]))


class ProgressLines(Callback):
    """``total``: Ray Tune trials the sweep runs; ``total_iterations``: trial-iterations of all its
    trials (the basis of the time-left estimate); ``final_evaluation``: whether trials end with one."""

    def __init__(self, total: int, total_iterations: int = 0, every_s: float = 5.0, quiet_s: float = 60.0,
                 final_evaluation: bool = False):
        self.total = total
        self.final_evaluation = final_evaluation
        self.total_iterations = total_iterations
        self.every_s = every_s
        self.quiet_s = quiet_s                     # a line at least this often, report or not
        self.last = 0.0
        self.started = time.time()
        self.reached: dict[str, int] = {}          # trial id -> latest iteration reported
        self.restored_seen = False
        self.last_report = self.started
        self.first: dict[str, int] = {}            # trial id -> iteration first seen in this run
        self.rate_since = 0.0                      # when this run saw its first report

    # Trials Ray completed: normal ends and scheduler stops (an interruption completes none), in
    # this run and, as Ray Tune's saved state has them, in earlier ones (a driver killed outright
    # never wrote those to the sweep's state file). Kept on the class: on --resume Ray runs the
    # instance unpickled from the experiment, not the driver's.
    completed: set = set()
    # Whether trials end with a final evaluation; on the class too, for the instance of a sweep
    # started before it was kept (Ray Tune unpickles it on --resume)
    final_evaluation: bool = False
    # The last failure of a trial for want of space on the sweep's storage (a DiskFullError), if
    # any: when the driver then fails too (its own writes), it says the disk is full
    full_disk: str = ""

    def setup(self, **info):
        self.started = time.time()                 # also when restored from the experiment state
        self.first, self.rate_since = {}, 0.0
        self.restored_seen = False
        self.last, self.last_report = self.started, self.started     # the sweep's first line is its own

    def on_step_begin(self, iteration, trials, **info):
        """At the first step, the trials Ray Tune's saved state has as ended. Then, after
        ``quiet_s`` without a line, one that says the sweep waits for its trials' next reports (a
        paper spec on CPUs reports every 500 iterations: its first line came after 5 minutes)."""
        if not self.restored_seen:
            self.restored_seen = True
            ProgressLines.completed.update(t.trial_id for t in trials if t.status == "TERMINATED")
        now = time.time()
        if now - self.last < self.quiet_s or not trials:
            return
        self.last = now
        every = min(map(report_every, trials))
        waiting = "no report yet" if not self.first else f"no report for {duration(now - self.last_report)}"
        self.say(now, trials, f"{waiting} (trials report every {every:,} iterations{self.last_stretch(trials)})")

    def last_stretch(self, trials) -> str:
        """Where a running trial has no report left but its last: that one comes after the trial's
        final evaluation (the quickstart said "about 35s left", then a minute with no report)."""
        ending = [t for t in trials if t.status == "RUNNING" and t.trial_id in self.reached
                  and self.reached[t.trial_id] + report_every(t) >= trial_iterations(t)[1]]
        if not ending or not self.final_evaluation:
            return ""
        if len(ending) == 1:
            return f"; {ending[0].trial_id}'s last report comes after its final evaluation"
        return f"; {len(ending)} trials' last reports come after their final evaluations"

    def on_trial_complete(self, iteration, trials, trial, **info):
        ProgressLines.completed.add(trial.trial_id)
        result = trial.last_result or {}
        if layout.STATUS_TAG in result:            # its last report's line said how it ended
            return
        shown = shown_values(result)
        _, max_iter = trial_iterations(trial)
        reached = int(result.get(layout.ITERATION, 0))     # the scheduler acts on a report
        self.say(time.time(), trials, f"{trial.trial_id}: stopped early by the scheduler (ASHA) at iteration "
                 f"{reached:,} / {max_iter:,}{' | ' + shown if shown else ''}", {trial.trial_id: "TERMINATED"})

    def say(self, now: float, trials, text: str, ending: dict[str, str] | None = None) -> None:
        """A progress line: time since the start, the trials' states, then ``text``."""
        print(f"[{duration(now - self.started):>7}] {self.counts(trials, ending)} of {self.total} | {text}",
              file=sys.stderr, flush=True)

    @staticmethod
    def counts(trials, ending: dict[str, str] | None = None) -> str:
        """Ray Tune's trial states; ``ending``: trial id -> the state of a trial whose last report
        is being shown (Ray still calls it RUNNING until the report has been handled)."""
        status = [(ending or {}).get(t.trial_id, t.status) for t in trials]
        return (f"{status.count('RUNNING')} running, {status.count('TERMINATED')} done, "
                f"{status.count('ERROR')} failed, {status.count('PENDING')} pending")

    def time_left(self, trials, now: float, ending: dict[str, str] | None = None) -> str:
        """The trial-iterations left at the rate of this run's reports so far (from the first)."""
        done_here, remaining = 0, 0
        for trial in trials:
            members, max_iter = trial_iterations(trial)
            reached = self.reached.get(trial.trial_id, 0)
            done_here += members * (reached - self.first.get(trial.trial_id, reached))
            if (ending or {}).get(trial.trial_id, trial.status) not in ENDED:
                remaining += members * (max_iter - reached)
        if self.total > len(trials) and trials:     # Optuna: trials not created yet
            remaining += (self.total - len(trials)) * trial_iterations(trials[0])[1]
        if done_here <= 0:
            return ""
        rate = done_here / max(now - self.rate_since, 1e-9)
        return f" | {rate:,.1f} it/s" + (f", about {duration(remaining / rate)} left" if remaining else "")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        now = time.time()
        self.last_report = now
        if layout.ITERATION in result:
            self.reached[trial.trial_id] = int(result[layout.ITERATION])
            self.first.setdefault(trial.trial_id, int(result[layout.ITERATION]))
            self.rate_since = self.rate_since or now
        if now - self.last < self.every_s and layout.STATUS_TAG not in result:
            return
        self.last = now
        shown = shown_values(result)
        _, max_iter = trial_iterations(trial)
        state = result.get(layout.STATUS_TAG, f"iteration {result.get(layout.ITERATION, 0):,} / {max_iter:,}")
        if layout.TRIAL_ERROR in result:           # failed for good, not retried: said once, here
            state += f" (not retried): {result[layout.TRIAL_ERROR]}"
        ended = result.get(layout.STATUS_TAG)         # its last report: Ray still calls it RUNNING
        ending = ({trial.trial_id: "ERROR" if ended == layout.FAILED else "TERMINATED"}
                  if ended not in (None, INTERRUPTED) else {})
        self.say(now, trials, f"{trial.trial_id}: {state}{' | ' + shown if shown else ''}"
                 f"{self.time_left(trials, now, ending)}", ending)

    @staticmethod
    def failure(trial) -> str:
        why = error_line(trial)
        if why.startswith(f"{DiskFullError.__name__}: "):
            ProgressLines.full_disk = why
        return why

    def on_trial_recover(self, iteration, trials, trial, **info):
        why = self.failure(trial)
        self.say(time.time(), trials, f"{trial.trial_id} failed; Ray retries it from its last checkpoint"
                 f"{': ' + why if why else ''}")

    def on_trial_error(self, iteration, trials, trial, **info):
        why = self.failure(trial)
        where = f"; its tracebacks: {Path(trial.path) / layout.RAY_ERROR_FILE}" if why else ""
        self.say(time.time(), trials, f"{trial.trial_id} failed for good (max_failures reached)"
                 f"{': ' + why if why else ''}{where}")
