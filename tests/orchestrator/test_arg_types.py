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
