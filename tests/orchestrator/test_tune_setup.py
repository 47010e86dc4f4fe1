"""The Ray Tune pieces a sweep builds, as Ray Tune uses them across a --resume."""

import ray.cloudpickle as cloudpickle
import yaml
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from orchestrator import layout
from orchestrator.sweep_spec import load_sweep_spec
from orchestrator.tune_setup import tune_config

from .sweep_helpers import spec_file


def asha_spec(tmp_path):
    path = spec_file(tmp_path, "pruned", max_iter=20)                   # ASHA's rungs at iterations 2 and 8
    content = yaml.safe_load(path.read_text())
    content.update(scheduler="asha", metric="critic_neg_w_test", mode="max")
    path.write_text(yaml.safe_dump(content))
    return load_sweep_spec(path)


def report(scheduler, trial_id, iteration, value):
    return scheduler.on_trial_result(None, Trial("pruned", stub=True, trial_id=trial_id),
                                     {layout.ITERATION: iteration, "critic_neg_w_test": value})


def test_asha_judges_a_trial_after_a_resume_against_the_reports_made_before_it(tmp_path):
    """Ray Tune restores the scheduler from the copy pickled into tuner.pkl when the sweep started,
    and saves none of its state: after a --resume, ASHA's rungs were empty, and a trial far below
    the four that had passed a rung went on (no cutoff without records) instead of stopping."""
    spec = asha_spec(tmp_path)
    layout.asha_state_path(tmp_path, "pruned").write_bytes(b"left by an earlier sweep of this name")
    started = tune_config(spec, tmp_path).scheduler                     # a first start reads no old rungs
    pickled_at_start = cloudpickle.dumps(started)                       # what tuner.pkl holds
    for k in range(4):
        started.on_trial_add(None, Trial("pruned", stub=True, trial_id=f"t{k}"))
        assert report(started, f"t{k}", 8, -1.0 * (4 - k)) == TrialScheduler.CONTINUE   # -4 .. -1, improving
    assert layout.asha_state_path(tmp_path, "pruned").is_file()

    resumed = cloudpickle.loads(pickled_at_start)                       # the driver of --resume
    for k in range(5):                                                  # Ray Tune re-adds the trials, and a new one
        resumed.on_trial_add(None, Trial("pruned", stub=True, trial_id=f"t{k}"))
    assert report(resumed, "t4", 8, -10.0) == TrialScheduler.STOP       # far below the rung's records

    layout.asha_state_path(tmp_path, "pruned").unlink()                 # as before: nothing kept
    forgetful = cloudpickle.loads(pickled_at_start)
    forgetful.on_trial_add(None, Trial("pruned", stub=True, trial_id="t4"))
    assert report(forgetful, "t4", 8, -10.0) == TrialScheduler.CONTINUE
