"""Quartiles, best jobs and metric agreement on tables with known values."""

import pandas as pd
import pytest

from analysis.metrics import BY_NAME, goodness, present
from analysis.tables import (
    best_jobs,
    different_halves,
    markdown,
    metric_agreement,
    quartile_table,
    varied_hyperparameters,
)


def trials(values, group="alphagan", status="finished", metric="inception_score", start=0):
    return pd.DataFrame({"group": group, "trial": [f"{group}_{i}" for i in range(start, start + len(values))],
                         "status": status, metric: values})


def test_quartiles_are_exact_linear_quantiles_per_group_over_finished_trials():
    frame = pd.concat([trials([float(v) for v in range(1, 11)]),
                       trials([100.0, 200.0], status="diverged", start=10),          # not counted
                       trials([4.0, 1.0, 3.0, 2.0, 5.0], group="dcgan")], ignore_index=True)
    table = quartile_table(frame, [BY_NAME["inception_score"]]).set_index("group")
    assert table.loc["alphagan"].to_dict() == {"metric": "inception_score", "count": 10, "min": 1.0, "q1": 3.25,
                                               "median": 5.5, "q3": 7.75, "max": 10.0}
    assert table.loc["dcgan"].to_dict() == {"metric": "inception_score", "count": 5, "min": 1.0, "q1": 2.0,
                                            "median": 3.0, "q3": 4.0, "max": 5.0}


def test_quartiles_skip_missing_values_and_metrics_nobody_logged():
    frame = trials([1.0, None, 3.0])
    frame["fid"] = [None, None, None]
    table = quartile_table(frame, [BY_NAME["inception_score"], BY_NAME["fid"]])
    assert list(table["metric"]) == ["inception_score"] and table["count"].tolist() == [2]
    assert [m.name for m in present(frame)] == ["inception_score"]


def test_best_jobs_follow_each_metrics_direction():
    frame = trials([5.0, 9.0, 1.0, 7.0])
    assert best_jobs(frame, BY_NAME["inception_score"], {}, 2)["inception_score"].tolist() == [9.0, 7.0]
    kl = trials([0.5, 0.1, 0.9, 0.3], metric="mode_kl")
    assert best_jobs(kl, BY_NAME["mode_kl"], {}, 3)["mode_kl"].tolist() == [0.1, 0.3, 0.5]
    diversity = trials([0.2, 0.5, 0.9, 0.62], metric="sample_diversity")
    # closest to the dataset's own diversity is best, as in the paper
    ranked = best_jobs(diversity, BY_NAME["sample_diversity"], {"sample_diversity": 0.6}, 4)
    assert ranked["sample_diversity"].tolist() == [0.62, 0.5, 0.9, 0.2]
    # no reference: more diverse is better
    assert best_jobs(diversity, BY_NAME["sample_diversity"], {}, 1)["sample_diversity"].tolist() == [0.9]


def test_best_jobs_are_per_group_and_only_finished():
    frame = pd.concat([trials([1.0, 2.0, 3.0]), trials([50.0], status="failed", start=3),
                       trials([10.0, 20.0], group="age")], ignore_index=True)
    best = best_jobs(frame, BY_NAME["inception_score"], {}, 2)
    assert best[["group", "inception_score"]].values.tolist() == [["age", 20.0], ["age", 10.0],
                                                                  ["alphagan", 3.0], ["alphagan", 2.0]]


def test_goodness_turns_every_metric_into_higher_is_better():
    values = pd.Series([1.0, 3.0])
    assert goodness(values, BY_NAME["fid"], {}).tolist() == [-1.0, -3.0]
    assert goodness(values, BY_NAME["sample_diversity"], {"sample_diversity": 2.5}).tolist() == [-1.5, -0.5]
    assert goodness(values, BY_NAME["critic_neg_w_test"], {}).tolist() == [1.0, 3.0]


@pytest.mark.parametrize("a, b, expected", [
    ([1, 2, 3, 4], [4, 3, 2, 1], 2 / 4),              # items 3, 4: top by a, bottom by b
    ([1, 2, 3, 4], [1, 2, 4, 3], 0.0),
    ([1, 2, 3, 4, 5, 6], [1, 2, 4, 3, 6, 5], 1 / 6),  # item 4 only (item 3 is the other direction)
    ([1, 2, 3, 4, 5], [1, 2, 3, 5, 4], 0.0),          # odd count: the top half holds 3
    ([1, 2, 3, 4, 5], [5, 1, 2, 3, 4], 1 / 5),        # item 3: top 3 by a, not top 3 by b
])
def test_different_halves_counts_one_direction_as_appendix_g(a, b, expected):
    """Both halves have ceil(n/2) items, so the two directions count alike: each is half of the
    share of trials the two metrics put in different halves."""
    a, b = pd.Series(a, dtype=float), pd.Series(b, dtype=float)
    assert different_halves(a, b) == pytest.approx(expected) == pytest.approx(different_halves(b, a))


def test_metric_agreement_ranks_by_goodness():
    frame = trials([1.0, 2.0, 3.0, 4.0])
    frame["fid"] = [40.0, 30.0, 20.0, 10.0]          # lower is better: agrees perfectly with IS
    frame["modes"] = [4.0, 3.0, 2.0, 1.0]            # disagrees perfectly
    metrics = [BY_NAME["inception_score"], BY_NAME["fid"], BY_NAME["modes"]]
    correlation, split = metric_agreement(frame, metrics, {})
    assert correlation.loc["inception_score", "fid"] == pytest.approx(1.0)
    assert correlation.loc["inception_score", "modes"] == pytest.approx(-1.0)
    assert split.loc["inception_score", "fid"] == 0.0 and split.loc["fid", "modes"] == 0.5


def test_varied_hyperparameters_and_markdown():
    frame = pd.DataFrame({"lr": [1e-4, 5e-4], "width": [1, 1], "value": [0.5, float("nan")]})
    assert varied_hyperparameters(frame, ["lr", "width", "absent"]) == ["lr"]
    assert markdown(frame).splitlines() == ["| lr | width | value |", "|---:|---:|---:|",
                                            "| 0.0001 | 1 | 0.5 |", "| 0.0005 | 1 |  |"]
