"""Counts on the command line are read the way a spec reads them."""

import argparse

import pytest

from orchestrator.arg_types import count
from orchestrator.cli import build_parser


def test_counts_may_be_written_as_specs_and_papers_write_them():
    assert [count(text) for text in ("10000", "1e4", "10_000", "2.0e3")] == [10_000, 10_000, 10_000, 2000]
    for text in ("2.5", "1e4x", "ten"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"must be a whole number .*got '{text}'"):
            count(text)


def test_the_commands_take_their_counts_through_it():
    parser = build_parser()
    evaluate = parser.parse_args(["evaluate", "run", "--samples", "1e4", "--critic-steps", "5e2"])
    assert (evaluate.samples, evaluate.critic_steps) == (10_000, 500)
    assert parser.parse_args(["analyze", "s", "--best", "2e1"]).best == 20
    assert parser.parse_args(["classifier", "train", "--dataset", "digits", "--steps", "1e3"]).steps == 1000


def test_a_path_whose_tilde_no_shell_expanded_is_under_home(monkeypatch, tmp_path):
    """`--storage=~/runs` (bash leaves that ~ alone) made a folder named '~' below the working folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    parser = build_parser()
    assert parser.parse_args(["sweep", "s.yaml", "--storage=~/runs"]).storage == f"{tmp_path}/runs"
    assert parser.parse_args(["ui", "--storage", "~/runs"]).storage == f"{tmp_path}/runs"
    assert parser.parse_args(["trial", "--out=~/t"]).out == f"{tmp_path}/t"
    analyze = parser.parse_args(["analyze", "s", "--storage=~/runs", "--out=~/a", "--reference=~/r.json"])
    assert [analyze.storage, analyze.out, analyze.reference] == [f"{tmp_path}/{p}" for p in ("runs", "a", "r.json")]
    evaluate = parser.parse_args(["evaluate", "run", "--out=~/e", "--inception-weights=~/w.pth"])
    assert (evaluate.out, evaluate.inception_weights) == (f"{tmp_path}/e", f"{tmp_path}/w.pth")
    assert parser.parse_args(["sweep", "s.yaml"]).storage == "runs/sweeps"                  # the default, as it was
