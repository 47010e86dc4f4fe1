"""`orchestrate sweep --address`: what is checked on the submitting machine before anything is
sent (one line within seconds), and the trial's end when its node cannot reach the tracking
server. The submission itself runs end to end in tests/orchestrator/test_three_hosts.py."""

import time

import pytest

from orchestrator.job_submission import JobRequest
from orchestrator.tracking import TrackingUnreachable, TrialTracker

from .sweep_helpers import SMOKE
from .test_bad_input import one_error_line, run


@pytest.mark.parametrize("address, needle", [
    ("http://127.0.0.1:1", "cannot reach the Ray dashboard at http://127.0.0.1:1"),
    ("http://192.0.2.1:8265", "cannot reach the Ray dashboard at http://192.0.2.1:8265"),   # TEST-NET: no answer
    ("127.0.0.1:1", "cannot reach the Ray head at 127.0.0.1:1"),
    ("192.0.2.1:6379", "cannot reach the Ray head at 192.0.2.1:6379"),
    ("ray-head", "expected HOST:PORT of a Ray head"),
])
def test_an_unreachable_address_is_one_line_within_seconds(tmp_path, address, needle):
    started = time.time()
    out = run(SMOKE, "--address", address, "--storage", tmp_path / "sweeps")
    assert time.time() - started < 30
    one_error_line(out, needle)
    assert not (tmp_path / "sweeps").exists()


@pytest.mark.parametrize("extra, needle", [
    (("--storage", "runs"), "--storage 'runs': a sweep submitted to a cluster needs the absolute path"),
    (("--storage", "/s", "--data-root", "data"), "--data-root 'data': give the absolute path"),
    (("--storage", "/s", "--tracking-uri", "sqlite:///runs/mlflow.db"), "needs a tracking server"),
])
def test_paths_a_job_gets_must_be_the_clusters(extra, needle):
    one_error_line(run(SMOKE, "--address", "http://127.0.0.1:1", *extra), needle)


def test_the_job_runs_the_sweep_with_the_same_choices():
    request = JobRequest(storage="/shared/sweeps", tracking_uri="http://head:5000", data_root="/data b",
                         resume=True, verbose=False)
    assert request.entrypoint("my spec.yaml") == ("orchestrate sweep 'my spec.yaml' --address auto --storage "
                                                  "/shared/sweeps --tracking-uri http://head:5000 --data-root "
                                                  "'/data b' --resume")


def test_a_trial_whose_node_cannot_resolve_the_server_fails_at_once_naming_both():
    started = time.time()
    with pytest.raises(TrackingUnreachable, match=r"node node-7 .*cannot resolve the tracking server "
                                                  r"http://mlflow\.invalid:5000 .*every node reaches"):
        TrialTracker("http://mlflow.invalid:5000", "0", "parent", "trial", {"lr": 1}, node="node-7")
    assert time.time() - started < 30
