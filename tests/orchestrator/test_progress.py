"""orchestrator.progress: the sweep's progress lines."""

from types import SimpleNamespace

import pytest

from orchestrator import layout
from orchestrator.progress import ProgressLines


def trial(trial_id: str, status: str = "RUNNING"):
    """What the progress lines read of a Ray Tune trial: its id, state and hyperparameters."""
    return SimpleNamespace(trial_id=trial_id, status=status, config={"hp": {"max_iter": 40}})


@pytest.mark.parametrize("last, counted", [("finished", "1 running, 1 done, 0 failed"),
                                          ("failed", "1 running, 0 done, 1 failed"),
                                          ("interrupted", "2 running, 0 done, 0 failed")])
def test_a_trials_last_report_counts_it_as_ended(capsys, last, counted):
    """The line of a trial's end said "2 running, 0 done ... | t0: finished ... about 13s left":
    Ray calls a trial RUNNING until its last report has been handled."""
    progress, trials = ProgressLines(total=2), [trial("t0"), trial("t1")]
    progress.on_trial_result(0, trials, trials[1], {layout.ITERATION: 20})
    progress.on_trial_result(0, trials, trials[0], {layout.ITERATION: 20})
    capsys.readouterr()
    progress.on_trial_result(0, trials, trials[0], {layout.ITERATION: 40, layout.STATUS_TAG: last})
    line = capsys.readouterr().err.strip()
    assert f"] {counted}, 0 pending of 2 | t0: {last}" in line, line


def test_time_left_leaves_out_a_trial_that_has_just_ended_early():
    """A trial stopped by the scheduler at iteration 20 of 40 has no iterations left to run."""
    progress, trials = ProgressLines(total=2), [trial("t0"), trial("t1")]
    progress.reached, progress.first, progress.rate_since = {"t0": 20, "t1": 20}, {"t0": 0, "t1": 0}, 100.0
    assert progress.time_left(trials, 110.0) == " | 4.0 it/s, about 10s left"       # 40 left at 4 it/s
    assert progress.time_left(trials, 110.0, {"t0": "TERMINATED"}) == " | 4.0 it/s, about 5s left"
    assert progress.time_left(trials, 110.0, {"t0": "TERMINATED", "t1": "TERMINATED"}) == " | 4.0 it/s"  # not "0s left"
