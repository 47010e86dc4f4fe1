"""The in-domain classifier of a sweep's final evaluation (inception score, FID, mode counts).

One sweep reads one classifier: the first start copies the kept one (``$ALPHAGAN_CACHE``) beside
the sweep's state, and every --resume reads that copy. Trials evaluated before and after a
retraining of the kept classifier (`orchestrate classifier train`) would otherwise be scored by
two different networks, and the spread over the sweep would mix them."""

from __future__ import annotations

import sys
from pathlib import Path

from trainer.atomic_files import atomic_write

from . import layout
from .sweep_spec import SweepSpec


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def final_classifier_state(spec: SweepSpec, storage: Path, data_root: str | None, *, resume: bool):
    """The classifier's weights for the trials' final evaluation: on --resume the sweep's own copy;
    on a first start (or a sweep started before copies were kept) the kept one, trained once here
    on the driver rather than by every trial at once, copied there. None when the sweep evaluates
    nothing a classifier reads."""
    from trainer.metrics import has_classifier

    dataset = spec.trials[0]["dataset"]
    if not spec.evaluation.samples or not has_classifier(dataset):
        return None
    import torch

    copy = layout.classifier_copy_path(storage, spec.name)
    if not (resume and copy.is_file()):         # a first start: not a copy left by one that never ran
        _keep_copy(dataset, data_root, copy)
    return torch.load(copy, map_location="cpu", weights_only=True)["state_dict"]


def _keep_copy(dataset: str, data_root: str | None, copy: Path) -> None:
    import torch

    from trainer import load_dataset
    from trainer.metrics import load_or_train_classifier
    from trainer.metrics.classifiers import classifier_path

    data = load_dataset(dataset, data_root, log=_log)
    load_or_train_classifier(data, device="cuda" if torch.cuda.is_available() else "cpu", log=_log)
    warn_if_short(dataset, classifier_path(data))
    kept = classifier_path(data).read_bytes()
    copy.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(copy, lambda tmp: tmp.write_bytes(kept))


def warn_if_short(dataset: str, path: Path) -> None:
    """A kept classifier trained fewer steps than the metrics are defined with (docs/metrics.md),
    say `orchestrate classifier train --steps 20 --replace`, scores the whole sweep: said once, at
    its first start, since its figures are not comparable with those of the full one."""
    from trainer.metrics.classifiers import default_steps, kept_classifier

    kept = kept_classifier(path)
    full = default_steps(dataset)
    if kept is None or kept["steps"] is None or kept["steps"] >= full:
        return
    accuracy = f", test accuracy {100 * kept['test_accuracy']:.2f} %" if kept["test_accuracy"] is not None else ""
    _log(f"warning: the kept {dataset} classifier ({path}) was trained {kept['steps']:,} steps{accuracy}, not the "
         f"{full:,} its metrics are defined with; this sweep's inception scores, FIDs and mode counts read it: "
         f"`orchestrate classifier train --dataset {dataset}` trains the full one")


def classifier_of_sweep_trial(folder: Path):
    """The classifier the sweep of a trial's folder (``<storage>/<sweep>/trial_<id>`` or a folder in
    it) evaluated with, so that `orchestrate evaluate` of that trial scores it as the sweep did;
    None for a folder outside a sweep, or a sweep that kept no copy."""
    trial = next((f for f in [folder.resolve(), *folder.resolve().parents] if f.name.startswith("trial_")), None)
    if trial is None:
        return None
    copy = layout.classifier_copy_path(trial.parent.parent, trial.parent.name)
    if not copy.is_file():
        return None
    import torch

    from trainer.metrics.classifiers import build_classifier

    state = torch.load(copy, map_location="cpu", weights_only=True)
    model = build_classifier(state["dataset"])
    model.load_state_dict(state["state_dict"])
    _log(f"classifier: the one sweep {trial.parent.name} evaluated with ({copy})")
    return model.eval()
