"""`orchestrate evaluate` and `orchestrate classifier train` as a user runs them."""

import json
import subprocess
import sys

import pytest
import yaml


def orchestrate(*args):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_reference_and_trial_evaluation_on_digits(tmp_path):
    """With the session's cache folder: the digits classifier is trained once for the whole suite
    (its training and keeping: test_classifiers.py and the retraining test below)."""
    ref = orchestrate("evaluate", "--reference", "--dataset", "digits", "--critic-steps", "30",
                      "--out", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    record = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    metrics = record["metrics"]
    for key in ("sample_diversity", "sample_diversity_noisy", "inception_score", "inception_score_std",
                "fid", "modes", "mode_kl", "critic_neg_w_val", "critic_neg_w_test"):
        assert key in metrics and key in ref.stdout
    assert metrics["modes"] > 950
    assert set(record["seconds"]) >= {"sample_diversity", "inception_score", "fid", "modes", "critic_train"}

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"trial": dict(model="alphagan", dataset="digits", width=0.125,
                                                  latent_dim=10, max_iter=10, report_every=5)}))
    trial = orchestrate("trial", spec, "--out", tmp_path / "run", "--no-progress")
    assert trial.returncode == 0, trial.stderr
    run = orchestrate("evaluate", tmp_path / "run", "--samples", "1000", "--critic-steps", "10")
    assert run.returncode == 0, run.stderr
    assert "training the digits classifier" not in run.stderr               # kept from before
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["metrics"]["iteration"] == 10 and record["hyperparameters"]["width"] == 0.125
    assert 1 <= record["metrics"]["modes"] <= 1000


def one_error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    return lines[0]


def test_evaluate_without_a_checkpoint_is_one_line(tmp_path):
    line = one_error_line(orchestrate("evaluate", tmp_path))
    assert "no checkpoint in" in line and "a trial's --out folder, or a sweep trial's folder" in line


def test_a_sweep_trials_folder_is_evaluated(smoke_sweep, tmp_path):
    """The folder the sweep's summary points at (<storage>/<sweep>/trial_<id>) holds the checkpoint
    in work/checkpoint; it was "no checkpoint in ...". metrics.json goes to --out."""
    storage, _, _ = smoke_sweep
    trial = sorted((storage / "smoke").glob("trial_*"))[0]
    result = orchestrate("evaluate", trial, "--samples", "20", "--critic-steps", "0", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "evaluating: generate ...\nevaluating: sample_diversity ...\n" in result.stderr    # as each step starts
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["run"] == str(trial) and record["metrics"]["iteration"] == 20
    assert record["hyperparameters"]["dataset"] == "synthetic"


def test_reference_needs_a_dataset(tmp_path):
    assert "--reference needs --dataset NAME" in one_error_line(orchestrate("evaluate", "--reference"))


def test_missing_inception_weights_is_one_line(tmp_path):
    """Said before the dataset loads (the dataset's line came first, and CelebA takes minutes)."""
    line = one_error_line(orchestrate("evaluate", "--reference", "--dataset", "digits",
                                      "--inception-weights", tmp_path / "nope.pth", "--critic-steps", "0"))
    assert "Inception-v3 weights not found" in line


def test_an_output_folder_that_cannot_be_written_is_one_line_before_evaluating(tmp_path):
    """Checked before the metrics are computed (a long evaluation is not lost at its last step)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out, needle in [("/proc/alphagan-ref", "--out /proc/alphagan-ref cannot be created in /proc"),
                        (blocker, f"--out {blocker} is a file, not a folder")]:
        line = one_error_line(orchestrate("evaluate", "--reference", "--dataset", "synthetic", "--out", out))
        assert line.startswith("orchestrate evaluate: error: ") and needle in line


@pytest.mark.parametrize("command, needle", [
    (["evaluate", "RUN", "--samples", "0"], "--samples must be at least 2"),
    (["evaluate", "RUN", "--critic-steps", "-1"], "--critic-steps must be 0 (no critic) or more, got -1"),
    (["evaluate", "--reference", "--dataset", "digits", "--noise-std", "-0.1"], "--noise-std must be 0 or more"),
    (["evaluate", "RUN", "--device", "MISSING"], "device: MISSING, but "),
    (["trial", "--set", "dataset=digits", "--out", "RUN", "--device", "MISSING"], "device: MISSING, but "),
    (["classifier", "train", "--dataset", "digits", "--steps", "0"], "--steps must be at least 1, got 0"),
    (["classifier", "train", "--dataset", "digits", "--device", "MISSING"], "device: MISSING, but "),
])
def test_bad_numbers_and_a_missing_gpu_are_one_line_before_any_work(command, needle, tmp_path, capsys):
    """Each was a traceback (--samples 0, a CUDA device on a machine without one) or silently
    wrong (--critic-steps -1 scored an untrained critic, --steps 0 kept an untrained classifier in the
    cache). MISSING: a GPU past this machine's last one (cuda:0 where there is none)."""
    import torch

    from orchestrator.cli import main

    missing = f"cuda:{torch.cuda.device_count() if torch.cuda.is_available() else 0}"
    run = tmp_path / "run"
    args = [str(run) if a == "RUN" else missing if a == "MISSING" else a for a in command]
    needle = needle.replace("MISSING", missing)
    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALPHAGAN_CACHE", str(cache))
        assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"orchestrate {command[0]}: error: ") and needle in lines[0], lines
    assert not run.exists() and not cache.exists()          # nothing written, nothing trained


@pytest.fixture(scope="module")
def tiny_trial(tmp_path_factory):
    """A real trial's output folder: 2 iterations of α-GAN on the synthetic data."""
    from trainer import train

    from ..conftest import tiny_config

    out = tmp_path_factory.mktemp("tiny-trial")
    train(tiny_config("alphagan", max_iter=2, report_every=2), None, out, log=lambda m: None)
    return out


@pytest.mark.parametrize("problem, needle", [
    ("samples", "samples of 3x28x28 images need 83.6 PiB of memory, but this machine has "),
    ("truncated", "cannot read the checkpoint CKPT as weights only ("),
    ("not a trial's", "CKPT is not a trial's checkpoint (it has no hyperparameters, config, algorithm); "),
])
def test_a_checkpoint_that_cannot_be_evaluated_is_one_line_with_evaluates_advice(problem, needle, tiny_trial,
                                                                                 tmp_path, capsys):
    """More samples than the machine holds were drawn until the system killed the process; a
    damaged checkpoint said "move it away to start the trial afresh" (advice for resuming), and a
    file that is not a trial's checkpoint was a KeyError traceback."""
    import shutil

    import torch

    from orchestrator.cli import main

    run = tmp_path / "run"
    shutil.copytree(tiny_trial, run)
    checkpoint = run / "checkpoint.pt"
    samples = "10000000000000" if problem == "samples" else "20"
    if problem == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    elif problem == "not a trial's":
        torch.save({"iteration": 2, "weights": torch.zeros(3)}, checkpoint)
    assert main(["evaluate", str(run), "--samples", samples, "--critic-steps", "0"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("orchestrate evaluate: error: ") and "Traceback" not in "\n".join(lines), lines
    assert needle.replace("CKPT", str(checkpoint)) in lines[-1]
    if problem != "samples":
        assert lines[-1].endswith("; it cannot be evaluated; move it away and rerun the trial to write a new one")
    assert not (run / "metrics.json").exists()


def test_retraining_keeps_the_kept_classifier_until_the_new_one_is_trained(tmp_path, monkeypatch):
    """`orchestrate classifier train` deleted the kept classifier before training (20,000 steps on
    CIFAR-10): a Ctrl-C during training lost it. Now the new one replaces it once trained."""
    from orchestrator.cli import main
    from trainer import load_dataset
    from trainer.metrics import classifiers, load_or_train_classifier
    from trainer.metrics.classifiers import classifier_path

    from ..trainer.test_data import write_cifar

    write_cifar(tmp_path)
    monkeypatch.setattr("trainer.data.cifar10.VAL_SIZE", 50)
    data = load_dataset("cifar10", tmp_path, log=lambda m: None)
    load_or_train_classifier(data, steps=2, log=lambda m: None)
    kept = classifier_path(data).read_bytes()
    command = ["classifier", "train", "--dataset", "cifar10", "--data-root", str(tmp_path), "--steps", "2",
               "--device", "cpu"]
    train = classifiers.train_vgg_classifier

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(classifiers, "train_vgg_classifier", interrupted)
    assert main(command) == 130
    assert classifier_path(data).read_bytes() == kept
    monkeypatch.setattr(classifiers, "train_vgg_classifier", lambda *a, **k: train(*a, **{**k, "seed": 1}))
    assert main(command) == 0 and classifier_path(data).read_bytes() != kept     # retrained, replaced


def test_a_shorter_retraining_does_not_replace_the_kept_classifier_unless_asked(tmp_path, monkeypatch, capsys):
    """`orchestrate classifier train --dataset digits --steps 10` replaced the kept classifier (98 %
    of the test digits) with one reading 31 %, and every later mode count used it. A retraining
    shorter than the kept one's is refused before it starts, unless --replace."""
    import torch

    from orchestrator.cli import main
    from trainer import load_dataset
    from trainer.metrics import load_or_train_classifier
    from trainer.metrics.classifiers import classifier_path

    monkeypatch.setenv("ALPHAGAN_CACHE", str(tmp_path))       # not the session's kept digits classifier
    data = load_dataset("digits", log=lambda m: None)
    load_or_train_classifier(data, steps=30, log=lambda m: None)
    path = classifier_path(data)
    kept = path.read_bytes()
    command = ["classifier", "train", "--dataset", "digits", "--device", "cpu", "--steps"]
    capsys.readouterr()
    assert main(command + ["5"]) == 2 and path.read_bytes() == kept
    error = capsys.readouterr().err.strip().splitlines()[-1]       # after the line describing the dataset
    assert error.startswith("orchestrate classifier: error: the kept digits classifier")
    assert "was trained 30 steps, test accuracy" in error and "pass --steps 30 or more, or --replace" in error
    assert main(command + ["5", "--replace"]) == 0 and path.read_bytes() != kept
    assert torch.load(path, weights_only=True)["steps"] == 5
    assert main(command + ["1e1"]) == 0                        # at least the kept one's 5 steps
    state = torch.load(path, weights_only=True)
    del state["steps"]                                         # a classifier kept before steps were recorded
    torch.save(state, path)
    assert main(command + ["2"]) == 0
