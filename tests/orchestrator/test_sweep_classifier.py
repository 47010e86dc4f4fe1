"""One sweep reads one classifier, whatever happens to the kept one between its starts."""

import torch
import yaml

from orchestrator import layout
from orchestrator.sweep_classifier import classifier_of_sweep_trial, final_classifier_state, warn_if_short
from orchestrator.sweep_spec import load_sweep_spec
from trainer import load_dataset
from trainer.metrics import load_or_train_classifier
from trainer.metrics.classifiers import classifier_path

from .sweep_helpers import spec_file


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_resumed_sweep_evaluates_with_the_classifier_it_started_with(tmp_path, monkeypatch, capsys):
    """A sweep interrupted, the kept digits classifier retrained (`orchestrate classifier train`),
    then --resume: the trials evaluated after the resume were scored by the new classifier and
    those before by the old one, so the sweep's inception scores, FIDs and mode counts mixed two
    networks. The first start now keeps a copy beside the sweep's state, and a resume reads it."""
    monkeypatch.setenv("ALPHAGAN_CACHE", str(tmp_path / "cache"))
    data = load_dataset("digits", log=lambda m: None)
    started_with = load_or_train_classifier(data, steps=30, log=lambda m: None).state_dict()
    spec = load_sweep_spec(spec_file(tmp_path, "scored", dataset="digits"))
    storage = tmp_path / "storage"

    first = final_classifier_state(spec, storage, None, resume=False)
    assert same(first, started_with) and layout.classifier_copy_path(storage, "scored").is_file()
    kept = classifier_path(data)                  # a short one scores the sweep: said at its first start
    said = capsys.readouterr().err
    assert f"warning: the kept digits classifier ({kept}) was trained 30 steps, test accuracy " in said
    assert "%, not the 1,000 its metrics are defined with; this sweep's inception scores" in said
    full = {**torch.load(kept, weights_only=True), "steps": 1000}     # as `classifier train` keeps the full one
    torch.save(full, tmp_path / "full.pt")
    warn_if_short("digits", tmp_path / "full.pt")
    assert capsys.readouterr().err == ""
    retrained = load_or_train_classifier(data, steps=40, retrain=True, log=lambda m: None).state_dict()
    assert not same(retrained, started_with)
    assert same(final_classifier_state(spec, storage, None, resume=True), started_with)   # the sweep's copy
    other = load_sweep_spec(spec_file(tmp_path, "later", dataset="digits"))
    assert same(final_classifier_state(other, storage, None, resume=False), retrained)   # a new sweep: the kept one
    # `orchestrate evaluate` of one of its trials scores it as the sweep did, not with the kept one
    trial = storage / "scored" / "trial_0a1b2_00003"
    for folder in (trial, trial / "work" / "checkpoint", trial / "work" / "checkpoints" / "2"):
        assert same(classifier_of_sweep_trial(folder).state_dict(), started_with)
    assert classifier_of_sweep_trial(storage / "unscored" / "trial_0a1b2_00000") is None     # no copy kept
    assert classifier_of_sweep_trial(tmp_path / "runs" / "my-trial") is None                 # not a sweep's
    # a first start that never got to run left its copy; the next first start takes the kept classifier
    assert same(final_classifier_state(spec, storage, None, resume=False), retrained)


def test_a_sweep_without_a_classifier_metric_keeps_no_copy(tmp_path):
    synthetic = load_sweep_spec(spec_file(tmp_path, "synthetic"))              # no classifier for it
    path = spec_file(tmp_path, "unevaluated", dataset="digits")
    content = yaml.safe_load(path.read_text())
    content["evaluation"]["samples"] = 0
    path.write_text(yaml.safe_dump(content))
    for spec in (synthetic, load_sweep_spec(path)):
        assert final_classifier_state(spec, tmp_path, None, resume=False) is None
        assert not layout.classifier_copy_path(tmp_path, spec.name).exists()
