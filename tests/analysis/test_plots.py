"""The box plots' legend says what the circles mark."""

from analysis.plots import best_label


def test_the_circles_are_the_best_jobs_or_every_job_of_a_small_sweep():
    assert best_label(10, [96, 27]) == "best 10"          # a paper grid: the best 10 of each model
    assert best_label(10, [4]) == "every job"              # 4 trials: all 4 are circled, not "best 10"
    assert best_label(10, [10, 3]) == "every job"
    assert best_label(3, [4, 2]) == "best 3"
