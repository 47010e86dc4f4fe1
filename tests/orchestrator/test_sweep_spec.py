"""Sweep specs: the shipped files hold the paper's grids; bad specs fail with one clear line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import SpecError
from orchestrator.settings import EvaluationSettings
from orchestrator.sweep_spec import load_sweep_spec

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"

# The paper's sweeps: Table 2 (learning rates), Appendix H.1 (loss weights), H.4.1 (latent sizes).
TABLE_2 = {"dcgan": {"lr_generator": [1e-4, 2e-4, 3e-4], "lr_discriminator": [1e-4, 2e-4, 3e-4]},
           "wgangp": {"lr_generator": [1e-4, 2e-4, 3e-4], "lr_discriminator": [1e-4, 2e-4, 3e-4]},
           "alphagan": {"lr_generator": [1e-4, 5e-4], "lr_discriminator": [5e-4],
                        "lr_code_discriminator": [5e-4]},
           "age": {"lr_generator": [1e-4, 2e-4, 5e-4]}}
H1 = {"alphagan": {"recon_weight_encoder": [1, 5, 10, 50], "recon_weight_generator": [1, 5, 10, 50],
                   "adv_weight_generator": [1.0], "adv_weight_encoder": [1.0]},
      "age": {"age_recon_weight_x": [100, 500, 1000, 2000], "age_recon_weight_z": [10]},
      "wgangp": {"gp_weight": [10]}, "dcgan": {}}
LATENTS = {"colormnist": [10, 50, 75]}
ITERATIONS = {"colormnist": 100_000, "cifar10": 200_000, "celeba": 200_000}


def paper_grid(dataset, model):
    return {**TABLE_2[model], **H1[model], **({"latent_dim": LATENTS[dataset]} if dataset in LATENTS else {})}


@pytest.mark.parametrize("dataset", ["colormnist", "cifar10", "celeba"])
@pytest.mark.parametrize("model", ["alphagan", "dcgan", "wgangp", "age"])
def test_shipped_spec_holds_the_papers_sweep(dataset, model):
    spec = load_sweep_spec(SPACES / f"{dataset}_{model}.yaml")
    trials = spec.trials
    grid = paper_grid(dataset, model)
    expected = 1
    for values in grid.values():
        expected *= len(values)
    assert len(trials) == expected
    for key, values in grid.items():                         # every value of the paper, no other
        assert sorted({t[key] for t in trials}) == sorted(float(v) if isinstance(v, float) else v for v in values), key
    assert all(t["model"] == model and t["dataset"] == dataset and t["batch_size"] == 64
               and t["max_iter"] == ITERATIONS[dataset] for t in trials)
    assert len({json.dumps(t, sort_keys=True) for t in trials}) == len(trials)
    # docs/benchmarks-gpu.md, "Defaults for GPU specs": 8 per GPU where that packing was measured
    assert spec.gpus == "auto" and spec.trials_per_gpu == (8 if dataset == "colormnist" else 4)


@pytest.mark.parametrize("dataset", ["cifar10", "celeba", "digits"])
def test_appendix_d_ablation_specs_hold_the_alphagan_grid_with_the_empirical_kl(dataset):
    alphagan = load_sweep_spec(SPACES / f"{dataset}_alphagan.yaml").trials
    ablation = load_sweep_spec(SPACES / f"{dataset}_alphagan_kl.yaml").trials
    assert {t["prior_matching"] for t in alphagan} == {"code_discriminator"}
    assert {t["prior_matching"] for t in ablation} == {"empirical_kl"}
    ignored = ("prior_matching", "lr_code_discriminator")              # no code discriminator to train
    assert [{k: v for k, v in t.items() if k not in ignored} for t in ablation] == \
        [{k: v for k, v in t.items() if k not in ignored} for t in alphagan]


def test_the_laptop_comparison_specs_compare_like_with_like():
    """make compare: the four models on the embedded digits, each with a 4-trial grid, the same
    networks' width, iterations, critic schedule and final evaluation."""
    specs = [load_sweep_spec(SPACES / f"digits_{model}.yaml") for model in ("alphagan", "dcgan", "wgangp", "age")]
    assert [len(s.trials) for s in specs] == [4, 4, 4, 4]
    assert [s.trials[0]["model"] for s in specs] == ["alphagan", "dcgan", "wgangp", "age"]
    for key in ("dataset", "width", "latent_dim", "batch_size", "max_iter", "report_every"):
        assert len({t[key] for s in specs for t in s.trials}) == 1, key
    assert len({(s.independent_critic, s.evaluation) for s in specs}) == 1


def test_the_gpu_comparison_specs_are_the_laptop_grids_on_colormnist_at_full_width():
    """benchmarks/gpu_compare.sh: the same four 4-trial grids as the laptop comparison, on
    ColorMNIST with the paper's networks (width 1, latent 50), 8 trials per GPU."""
    for model in ("alphagan", "dcgan", "wgangp", "age"):
        laptop = load_sweep_spec(SPACES / f"digits_{model}.yaml")
        gpu = load_sweep_spec(SPACES / f"gpu_compare_colormnist_{model}.yaml")
        varied = ("dataset", "width", "latent_dim", "max_iter", "report_every", "checkpoint_every", "device")
        assert [{k: v for k, v in t.items() if k not in varied} for t in gpu.trials] == \
            [{k: v for k, v in t.items() if k not in varied} for t in laptop.trials], model
        assert {(t["dataset"], t["width"], t["latent_dim"], t["max_iter"]) for t in gpu.trials} == \
            {("colormnist", 1.0, 50, 5000)}
        assert gpu.gpus == "auto" and gpu.trials_per_gpu == 8


def test_dry_run_prints_one_json_object_per_trial_and_the_count():
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep",
                          str(SPACES / "celeba_alphagan.yaml"), "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 32 and all(json.loads(line)["model"] == "alphagan" for line in lines)
    # 32 x 256.2 MiB (alpha-GAN's 4 networks with Adam's moments, the critic's, the generator snapshot
    # it is on), 3 copies each, and one more being written
    assert "celeba_alphagan: 32 trials; their checkpoints need about 24.3 GiB on --storage" in out.stderr
    one = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(SPACES / "quickstart.yaml"),
                          "--dry-run"], capture_output=True, text=True, timeout=120)
    assert one.returncode == 0 and one.stderr.strip() == (
        "quickstart: 1 trial; their checkpoints need about 56.6 MiB on --storage"), one.stderr


def test_dry_run_of_an_optuna_search_says_how_its_samples_repeat(tmp_path):
    path = tmp_path / "tuned.yaml"
    path.write_text(yaml.safe_dump({"trial": {"model": "alphagan", "dataset": "digits", "width": 0.25},
                                    "grid": {"lr_generator": [1e-4, 5e-4]}, "search": "optuna",
                                    "num_samples": 5, "metric": "critic_neg_w_test"}))
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(path), "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 2, out.stderr
    assert out.stderr.startswith("tuned: 5 optuna samples over these values (one that repeats a combination "
                                 "trains with the next seed); their checkpoints need about "), out.stderr


def test_seeds_repeat_every_grid_point(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"trial": {"model": "dcgan", "dataset": "digits"},
                                    "grid": {"lr_generator": [1e-4, 2e-4]}, "seeds": [0, 1, 2]}))
    trials = load_sweep_spec(path).trials
    assert len(trials) == 6 and sorted({t["seed"] for t in trials}) == [0, 1, 2]


def test_a_seed_grid_gives_real_repeats(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"trial": {"model": "dcgan", "dataset": "digits"},
                                    "grid": {"seed": [0, 1, 2]}}))
    assert [t["seed"] for t in load_sweep_spec(path).trials] == [0, 1, 2]
    path.write_text(yaml.safe_dump({"trial": {"model": "dcgan", "dataset": "digits", "seed": 7}}))
    assert [t["seed"] for t in load_sweep_spec(path).trials] == [7]


def test_metric_may_be_named_as_in_mlflow_and_is_checked_against_what_trials_report(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"trial": {"model": "alphagan", "dataset": "digits"}, "search": "optuna",
                                    "metric": "critic/neg_w_test"}))
    assert load_sweep_spec(path).metric == "critic_neg_w_test"
    path.write_text(yaml.safe_dump({"trial": {"model": "dcgan", "dataset": "digits"}, "scheduler": "asha",
                                    "metric": "generator", "mode": "min"}))
    assert load_sweep_spec(path).metric == "generator"
    for metric, mode in (("fid", "min"), ("eval/mode_kl", "min"), ("modes", "max"),
                         ("sample_diversity", "min"), ("sample_diversity", "max")):   # best near the data's own
        path.write_text(yaml.safe_dump({"trial": {"model": "alphagan", "dataset": "digits"}, "search": "optuna",
                                        "metric": metric, "mode": mode}))
        assert load_sweep_spec(path).mode == mode


def test_counts_written_in_e_notation_are_whole_numbers(tmp_path):
    """YAML 1.1 reads 1e5 (no dot) as the text '1e5' and 1.0e+4 as a float: both spell the whole
    numbers a researcher means, in the trials' hyperparameters and in the spec's own counts."""
    path = tmp_path / "s.yaml"
    path.write_text("trial: {model: alphagan, dataset: digits, max_iter: 1e5, report_every: 5e2}\n"
                    "grid: {lr_generator: [1e-4, 5e-4]}\n"
                    "evaluation: {samples: 1e4, diversity_pairs: 5.0e+3, codes: 2e3}\n"
                    "independent_critic: {steps_per_report: 1e2}\nmax_failures: 3.0\n")
    spec = load_sweep_spec(path)
    assert [(t["max_iter"], t["report_every"], t["lr_generator"]) for t in spec.trials] == [
        (100_000, 500, 1e-4), (100_000, 500, 5e-4)]
    assert spec.evaluation == EvaluationSettings(samples=10_000, diversity_pairs=5000, codes=2000)
    assert spec.independent_critic.steps_per_report == 100 and spec.max_failures == 3


def test_trial_device_and_data_root_of_a_sweep_spec_are_kept(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"trial": {"model": "dcgan", "dataset": "digits", "device": "cpu",
                                              "data_root": "/data"}}))
    spec = load_sweep_spec(path)
    assert (spec.device, spec.data_root) == ("cpu", "/data")
    assert "device" not in spec.trials[0] and "data_root" not in spec.trials[0]      # run settings


def test_quickstart_and_smoke_are_valid_specs():
    smoke = load_sweep_spec(SPACES / "smoke.yaml")
    assert len(smoke.trials) >= 4
    assert (smoke.evaluation.samples, smoke.evaluation.diversity_pairs, smoke.evaluation.codes) == (200, 200, 100)
    quickstart = load_sweep_spec(SPACES / "quickstart.yaml")
    assert quickstart.trials[0]["dataset"] == "digits"
    evaluation = quickstart.evaluation
    assert (evaluation.samples, evaluation.diversity_pairs, evaluation.codes) == (10_000, 5000, 2000)


@pytest.mark.parametrize("content, message", [
    ({"trail": {}}, "unknown field 'trail' (did you mean 'trial'?); a sweep spec has "),
    ({"grid": {"lr_gen": [1]}}, "grid: unknown hyperparameter 'lr_gen'"),
    ({"grid": {"lr_genrator": [1]}}, "grid: unknown hyperparameter 'lr_genrator' (did you mean 'lr_generator'?)"),
    ({"grid": {"lr_generator": 0.1}}, "field 'grid.lr_generator' must be a non-empty list"),
    ({"trial": {"latent_dim": 5}, "grid": {"latent_dim": [5]}}, "'latent_dim' is both in 'trial' and in 'grid'"),
    ({"grid": {"latent_dim": [10, -1]}}, "latent_dim: must be a positive integer, got -1"),
    ({"search": "random"}, "field 'search' must be grid or optuna"),
    ({"search": "optuna"}, "field 'metric' is needed"),
    ({"resources": {"gpu": 1}}, "unknown field 'resources.gpu' (did you mean 'gpus'?); resources takes "),
    ({"seeds": 3}, "field 'seeds' must be a non-empty list of integers"),
    ({"evaluation": {"sample": 10}}, "unknown field 'evaluation.sample'"),
    ({"evaluation": {"samples": -5}}, "field 'evaluation.samples' must be a whole number >= 0"),
    ({"evaluation": {"samples": 1}}, "field 'evaluation.samples' must be 0 (no final evaluation) or at least 2"),
    ({"resources": {"fuse_trials": 0}}, "field 'resources.fuse_trials' must be a positive integer, got 0"),
    ({"resources": {"fuse_trials": 4}, "trial": {"model": "dcgan"}},
     "fused training supports alphagan, not dcgan; set fuse_trials: 1"),
    ({"resources": {"fuse_trials": 4}, "trial": {"channels_last": True}},
     "resources.fuse_trials > 1: channels_last: true is for unfused trials"),
    ({"resources": {"fuse_trials": 4}, "search": "optuna", "metric": "critic_neg_w_test"},
     "resources.fuse_trials > 1 needs search: grid and scheduler: none"),
    # the cases found by trying bad input as a user would
    ({"trial": {"device": 0}}, "field 'trial.device' must be auto, cpu or cuda in a sweep"),
    ({"trial": {"device": "cuda:1"}}, "field 'trial.device' must be auto, cpu or cuda in a sweep"),
    ({"trial": {"dcgan_dropout": [0.2]}}, "dcgan_dropout: must be a finite number, got [0.2]"),
    ({"trial": {"lr_generator": float("nan")}}, "lr_generator: must be a finite number, got nan"),
    ({"grid": {"lr_generator": [1e-4, float("inf")]}}, "lr_generator: must be a finite number, got inf"),
    ({"trial": {"lr_generator": -1e-4}}, "lr_generator: must be a non-negative number"),
    ({"trial": {"seed": 1.5}}, "seed: must be a whole number, got 1.5"),
    ({"grid": {"seed": [0, 1]}, "seeds": [0, 1]}, "'seeds' and 'grid.seed' both set the trials' seeds"),
    ({"trial": {"seed": 4}, "seeds": [0, 1]}, "'seeds' and 'trial.seed' both set the trials' seeds"),
    ({"critic": {"enabled": "false"}}, "field 'critic.enabled' must be true or false, got 'false'"),
    ({"independent_critic": {"enabled": 1}}, "field 'independent_critic.enabled' must be true or false"),
    ({"critic": {}, "independent_critic": {}}, "fields 'independent_critic' and 'critic' (its earlier name)"),
    ({"evaluation": {"samples": 0.5}}, "field 'evaluation.samples' must be a whole number >= 0, got 0.5"),
    ({"trial": {"data_root": 3}}, "field 'trial.data_root' must be a folder"),
    ({"search": "optuna", "metric": "critic_neg_w_tset"},
     "field 'metric': 'critic_neg_w_tset' is not reported by these trials (did you mean 'critic_neg_w_test'?); "
     "search: optuna needs"),
    ({"scheduler": "asha", "metric": "sample_diversity"},
     "'sample_diversity' is not reported by these trials; scheduler: asha needs a metric reported while"),
    ({"search": "optuna", "metric": "critic_neg_w_test", "independent_critic": {"enabled": False}},
     "'critic_neg_w_test' is not reported by these trials"),
    # the allowed list gave the losses' keys alone ("encoder, generator, ..."), not the names the UI shows
    ({"scheduler": "asha", "metric": "loss_generator"},
     "'loss_generator' is not reported by these trials (did you mean 'loss/generator'?); scheduler: asha needs a "
     "metric reported while trials train: loss/encoder, loss/generator, loss/discriminator, "
     "loss/code_discriminator, loss/reconstruction_l1, perf/iterations_per_second, critic/neg_w_test"),
    # Optuna ran every sample with the first seed of 'seeds', and would have tuned a grid.seed
    ({"search": "optuna", "metric": "critic_neg_w_test", "seeds": [0, 1]},
     "field 'seeds' does not go with search: optuna"),
    ({"search": "optuna", "metric": "critic_neg_w_test", "grid": {"seed": [0, 1]}},
     "field 'grid.seed' does not go with search: optuna"),
    ({"num_samples": 20}, "field 'num_samples' is for search: optuna; search: grid runs every combination"),
    ({"max_failures": True}, "field 'max_failures' must be a whole number >= 0, got True"),
    ({"search": "optuna", "metric": "critic_neg_w_test", "num_samples": True},
     "field 'num_samples' must be a positive integer, got True"),
    ({"evaluation": {"samples": "1e4.5"}}, "field 'evaluation.samples' must be a whole number >= 0, got '1e4.5'"),
    # Optuna maximised FID (mode defaults to max) and would have picked the worst trials
    ({"search": "optuna", "metric": "fid"}, "field 'mode': max would favour the worst trials: fid is better "
                                            "lower; set mode: min"),
    ({"search": "optuna", "metric": "critic_neg_w_test", "mode": "min"},
     "field 'mode': min would favour the worst trials: critic_neg_w_test is better higher; set mode: max"),
    ({"scheduler": "asha", "metric": "critic/neg_w_test", "mode": "min"}, "critic_neg_w_test is better higher"),
    # every trial's final evaluation divided by zero after all its training
    ({"evaluation": {"diversity_pairs": 0}}, "field 'evaluation.diversity_pairs' must be at least 1"),
    # a value given twice trained the same trial twice and counted it twice in the quartiles
    ({"seeds": [0, 1, 0]}, "field 'seeds' gives 0 twice, which would train the same trial twice"),
    ({"grid": {"lr_generator": ["1e-4", 0.0001]}}, "field 'grid.lr_generator' gives 0.0001 twice"),
    ({"grid": {"latent_dim": [10, 50, 10.0]}}, "field 'grid.latent_dim' gives 10 twice"),
    # a name too long for a file name was an OSError traceback at the sweep's lock file
    ({"name": "x" * 300}, "field 'name' is 300 bytes long (xxxxxxxxxxxxxxxx...); it names the sweep's folder"),
    ({"name": "ß" * 51}, "field 'name' is 102 bytes long"),
])
def test_bad_spec_fails_with_one_line_naming_file_and_field(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(SpecError) as err:
        load_sweep_spec(path)
    text = str(err.value)
    assert message in text and str(path) in text and "\n" not in text


def test_a_spec_without_a_name_takes_its_file_name_or_says_to_add_one(tmp_path):
    """The file's name stands for a missing 'name'; where it cannot (a dot, a space), the error
    says the field is missing rather than quoting a 'name' the file does not have."""
    content = yaml.safe_dump({"trial": {"model": "alphagan", "dataset": "synthetic"}})
    (tmp_path / "plain-name_1.yaml").write_text(content)
    assert load_sweep_spec(tmp_path / "plain-name_1.yaml").name == "plain-name_1"
    path = tmp_path / "my.spec v2.yaml"
    path.write_text(content)
    with pytest.raises(SpecError, match=r"has no field 'name' and its file's name 'my.spec v2' cannot stand for "
                                        r"it .*: add a line 'name: \.\.\.'$"):
        load_sweep_spec(path)


def test_bad_spec_on_the_command_line_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("grid:\n  lr_generator: [1e-4\n")
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(path)],
                         capture_output=True, text=True, timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1 and "invalid YAML" in lines[0] and str(path) in lines[0]


def test_fused_trials_group_by_architecture_in_grid_order(tmp_path):
    """Trials fuse only with trials of the same architecture (latent size here), up to
    fuse_trials per model; learning rates, loss weights and seeds vary inside a model."""
    path = tmp_path / "fused.yaml"
    path.write_text(yaml.safe_dump({"trial": {"model": "alphagan", "dataset": "colormnist"},
                                    "grid": {"latent_dim": [10, 50], "lr_generator": [1e-4, 5e-4],
                                             "recon_weight_encoder": [1, 10]},
                                    "seeds": [0, 1], "resources": {"fuse_trials": 3}}))
    spec = load_sweep_spec(path)
    models = spec.tune_trials
    assert [len(m.members) for m in models] == [3, 3, 2, 3, 3, 2]
    for model in models:
        assert len({hp["latent_dim"] for hp in model.members}) == 1
    assert tuple(hp for m in models for hp in m.members) == spec.trials
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(path), "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    assert "16 trials, fused into 6 models of up to 3 trials" in out.stderr
