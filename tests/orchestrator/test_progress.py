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


def test_the_critics_figure_names_the_snapshot_it_is_of(capsys):
    """The critic works beside its trial: the report of iteration 30 carries its figure for the
    generator of iteration 20, and the line said so nowhere. At the trial's end they agree."""
    progress, trials = ProgressLines(total=1, every_s=0), [trial("t0")]
    progress.on_trial_result(0, trials, trials[0], {layout.ITERATION: 30, "generator": 1.5,
                                                    "critic_neg_w_test": -2.25, layout.CRITIC_SNAPSHOT: 20})
    line = capsys.readouterr().err.rstrip()
    assert line.endswith("t0: iteration 30 / 40 | loss/generator 1.5, critic/neg_w_test -2.25 (of iteration 20)"), line
    progress.on_trial_result(0, trials, trials[0], {layout.ITERATION: 40, layout.STATUS_TAG: "finished",
                                                    "critic_neg_w_test": -1.5, layout.CRITIC_SNAPSHOT: 40})
    assert "t0: finished | critic/neg_w_test -1.5 | " in capsys.readouterr().err


RAY_ERROR = """Failure # 1 (occurred at 2026-12-04_23-15-27)
\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=11010, ip=192.0.2.2, repr=run_trial)
  File "/work/main/orchestrator/trial_runner.py", line 107, in run_trial
    result = train(cfg, report, checkpoint_dir, data=harness.data, sample_dir=harness.sample_dir,
orchestrator.errors.DiskFullError: the disk of the sweep's storage /s/x (node 10.0.0.2) is full (No space \
left on device; 0 bytes free): free space there

"""


def test_a_failed_trials_line_ends_with_its_errors_last_line_and_says_where_its_traceback_is(capsys, tmp_path):
    """A failure was Ray's traceback (60 lines, each retry) and a line that said only "failed"."""
    (tmp_path / "error.txt").write_text(RAY_ERROR)
    failed = SimpleNamespace(**vars(trial("t0", "ERROR")), error_file=str(tmp_path / "error.txt"), path="/s/x/trial_t0")
    progress = ProgressLines(total=1)
    progress.on_trial_recover(0, [failed], failed)
    why = ("DiskFullError: the disk of the sweep's storage /s/x (node 10.0.0.2) is full (No space left on device; "
           "0 bytes free): free space there")
    assert capsys.readouterr().err.strip().endswith(
        f"0 running, 0 done, 1 failed, 0 pending of 1 | t0 failed; Ray retries it from its last checkpoint: {why}")
    progress.on_trial_error(0, [failed], failed)
    assert capsys.readouterr().err.strip().endswith(
        f"t0 failed for good (max_failures reached): {why}; its tracebacks: /s/x/trial_t0/error.txt")
    assert ProgressLines.full_disk == why                  # the driver's own failure is then said as a full disk
    ProgressLines.full_disk = ""
    no_file = SimpleNamespace(**vars(trial("t1", "ERROR")), error_file=None, path="/s/x/trial_t1")
    progress.on_trial_error(0, [no_file], no_file)
    assert capsys.readouterr().err.strip().endswith("t1 failed for good (max_failures reached)")
    assert ProgressLines.full_disk == ""


def test_a_trial_the_scheduler_stops_gets_its_line(capsys):
    """ASHA's stops ended trials without a word: the counts went from "0 done" to "2 done"."""
    progress, trials = ProgressLines(total=2), [trial("t0"), trial("t1")]
    progress.setup()
    trials[0].last_result = {layout.ITERATION: 20, "generator": 3.5}
    progress.on_trial_complete(0, trials, trials[0])
    line = capsys.readouterr().err.strip()
    assert line.endswith("] 1 running, 1 done, 0 failed, 0 pending of 2 | t0: stopped early by the scheduler (ASHA) "
                         "at iteration 20 / 40 | loss/generator 3.5"), line
    trials[1].last_result = {layout.ITERATION: 40, layout.STATUS_TAG: "finished"}
    progress.on_trial_complete(0, trials, trials[1])          # its last report's line said it
    assert capsys.readouterr().err == ""
    assert {"t0", "t1"} <= ProgressLines.completed


def test_trials_rays_saved_state_has_as_ended_count_as_completed():
    """A driver killed outright after ASHA stopped a trial never wrote that stop to the sweep's
    state file; Ray Tune's saved state has the trial TERMINATED and does not run it again. The
    sweep said "1 of 8 trials unfinished" at every --resume and never closed its run."""
    ProgressLines.completed = set()
    progress = ProgressLines(total=3)
    progress.setup()
    trials = [trial("t0", "TERMINATED"), trial("t1", "PENDING"), trial("t2")]
    progress.on_step_begin(0, trials)
    assert ProgressLines.completed == {"t0"}
    trials[1].status = "TERMINATED"                     # ends in this run: on_trial_complete's to say
    progress.on_step_begin(1, trials)
    assert ProgressLines.completed == {"t0"}


def test_a_quiet_minute_gets_a_line_saying_what_the_sweep_waits_for(capsys):
    """A paper spec on CPUs reports every 500 iterations: its first progress line came 5 minutes
    after the sweep's header, and the sweep looked hung."""
    trials = [trial("t0"), trial("t1", "PENDING")]
    for each in trials:
        each.config["hp"]["report_every"] = 500
    progress = ProgressLines(total=2)
    progress.setup()
    progress.on_step_begin(0, trials)
    assert capsys.readouterr().err == ""                       # not at once
    progress.last -= 61
    progress.on_step_begin(1, trials)
    line = capsys.readouterr().err.strip()
    assert line.endswith("] 1 running, 0 done, 0 failed, 1 pending of 2 | no report yet (trials report every "
                         "500 iterations)"), line
    progress.on_step_begin(2, trials)
    assert capsys.readouterr().err == ""                       # a minute later, not at every step
    progress.on_trial_result(0, trials, trials[0], {layout.ITERATION: 500})
    capsys.readouterr()
    progress.last -= 61
    progress.last_report -= 125
    progress.on_step_begin(3, trials)
    assert "| no report for 2m 05s (trials report every 500 iterations)" in capsys.readouterr().err


def test_the_quiet_line_of_a_trials_last_stretch_says_its_last_report_follows_the_final_evaluation(capsys):
    """The quickstart's trial reported iteration 1,750 of 2,000 "about 35s left", then went a
    minute without a word: its last 250 iterations, then its final evaluation."""
    trials = [trial("t0"), trial("t1")]
    for each in trials:
        each.config["hp"]["report_every"] = 10
    progress = ProgressLines(total=2, final_evaluation=True)
    progress.setup()

    def quiet_line(reached):
        for each, iteration in zip(trials, reached, strict=True):
            progress.on_trial_result(0, trials, each, {layout.ITERATION: iteration})
        capsys.readouterr()
        progress.last -= 61
        progress.on_step_begin(0, trials)
        return capsys.readouterr().err.strip()

    assert quiet_line([20, 20]).endswith("| no report for 0s (trials report every 10 iterations)")
    assert quiet_line([30, 20]).endswith(
        "| no report for 0s (trials report every 10 iterations; t0's last report comes after its final evaluation)")
    assert quiet_line([30, 30]).endswith("(trials report every 10 iterations; 2 trials' last reports come after "
                                         "their final evaluations)")
    progress.final_evaluation = False                       # evaluation.samples: 0
    assert quiet_line([30, 30]).endswith("| no report for 0s (trials report every 10 iterations)")
