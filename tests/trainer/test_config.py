import pytest
import yaml

from trainer import ConfigError, TrialConfig
from trainer.config import MODEL_DEFAULTS, parse_overrides, resolve_device


def test_model_defaults_fill_unset_fields():
    cfg = TrialConfig(model="alphagan", dataset="colormnist")
    assert cfg.lr_discriminator == MODEL_DEFAULTS["alphagan"]["lr_discriminator"] == 5e-4
    assert cfg.generator_updates == 2
    assert cfg.max_iter == 100_000                          # Appendix H: ColorMNIST 100k
    assert TrialConfig(dataset="celeba").max_iter == 200_000
    assert TrialConfig(model="wgangp").critic_iters == 5 and TrialConfig(model="wgangp").gp_weight == 10
    assert cfg.adam_beta1 == 0.5 and cfg.adam_beta2 == 0.9 and cfg.batch_size == 64
    assert cfg.disc_real_weight == 1.0                      # eq 15 by default
    assert cfg.checkpoint_every == cfg.report_every


def test_explicit_values_win_over_defaults():
    cfg = TrialConfig(model="dcgan", lr_generator=3e-4, generator_updates=1)
    assert cfg.lr_generator == 3e-4 and cfg.generator_updates == 1


def test_unknown_key_names_the_key_and_suggests():
    with pytest.raises(ConfigError, match=r"unknown hyperparameter 'lr_gen'.*did you mean 'lr_generator'"):
        TrialConfig.from_dict({"lr_gen": 1e-4}, source="spec.yaml")


@pytest.mark.parametrize("values, message", [
    ({"model": "vae"}, "model: unknown model 'vae'"),
    # checkpoints are written at reports: 7 with reports every 5 checkpointed every 35 iterations
    ({"report_every": 5, "checkpoint_every": 7}, "checkpoint_every: 7 is not a multiple of report_every (5); "
     "checkpoints are written at reports, so it would checkpoint only every 35 iterations: use e.g. 10"),
    ({"dataset": "mnist"}, "dataset: unknown dataset 'mnist'"),
    ({"latent_dim": 0}, "latent_dim: must be a positive integer"),
    ({"lr_generator": -1}, "lr_generator: must be a non-negative number"),
    ({"lr_discriminator": 0}, "lr_discriminator: must be greater than 0"),
    ({"batch_size": "many"}, "batch_size must be an integer"),
    ({"max_iter": "1.5e0"}, "max_iter: must be a whole number, got 1.5"),
    ({"max_iter": "1e-3"}, "max_iter: must be a whole number, got 0.001"),
    ({"dcgan_dropout": 1.5}, "dcgan_dropout: must be in"),
    ({"device": "tpu"}, "device: 'tpu' is not one of"),
    ({"device": "cudax"}, "device: 'cudax' is not one of"),
    ({"device": "cuda:"}, "device: 'cuda:' is not one of"),
    ({"device": 0}, "device: must be one of auto, cpu, cuda, cuda:N, mps, got 0"),
    ({"dcgan_dropout": [0.2]}, "dcgan_dropout: must be a finite number, got [0.2]"),
    ({"lr_generator": float("nan")}, "lr_generator: must be a finite number, got nan"),
    ({"lr_generator": float("inf")}, "lr_generator: must be a finite number, got inf"),
    ({"lr_generator": "-inf"}, "lr_generator: must be a finite number, got -inf"),
    ({"lr_generator": -1e-4}, "lr_generator: must be a non-negative number"),
    ({"seed": 1.5}, "seed: must be a whole number, got 1.5"),
    ({"seed": -1}, "seed: must be a whole number >= 0"),
    ({"model": ["alphagan"]}, "model: must be one of alphagan, dcgan, wgangp, age"),
    ({"cuda_graphs": "false"}, "cuda_graphs: must be true, false or auto (on where the trial runs on CUDA), got "
                               "'false'"),
    ({"cudnn_benchmark": "yes"}, "cudnn_benchmark: must be true or false, got 'yes'"),
])
def test_bad_values_fail_with_one_clear_line(values, message):
    with pytest.raises(ConfigError) as err:
        TrialConfig.from_dict(values, source="spec.yaml")
    text = str(err.value)
    assert message in text and text.startswith("spec.yaml: ") and "\n" not in text


def test_yaml_spellings_are_coerced():
    cfg = TrialConfig.from_dict({"lr_generator": "1e-4", "latent_dim": "10", "max_iter": 1e3})
    assert cfg.lr_generator == 1e-4 and cfg.latent_dim == 10 and cfg.max_iter == 1000
    # YAML 1.1 reads 1e5 (no dot) as the text '1e5': the paper's 100,000 iterations as one writes them
    cfg = TrialConfig.from_dict(yaml.safe_load("{max_iter: 1e5, report_every: 2.5e3, batch_size: 64}"))
    assert (cfg.max_iter, cfg.report_every, cfg.batch_size) == (100_000, 2500, 64)


def test_parse_overrides():
    values = parse_overrides(["lr_generator=5e-4", "model=dcgan", "max_iter=10"])
    assert values["model"] == "dcgan" and values["max_iter"] == 10
    assert TrialConfig.from_dict(values).lr_generator == 5e-4     # YAML reads 5e-4 as text
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["lr_generator"])


def test_hyperparameters_exclude_run_settings():
    hp = TrialConfig().hyperparameters()
    assert "device" not in hp and "report_every" not in hp and "lr_generator" in hp
    assert "cuda_graphs" not in hp and "cudnn_benchmark" not in hp


def test_cudnn_benchmark_must_be_a_boolean():
    assert TrialConfig().cudnn_benchmark is True
    with pytest.raises(ConfigError, match="cudnn_benchmark: must be true or false, got 'yes'"):
        TrialConfig(cudnn_benchmark="yes")


@pytest.mark.parametrize("dataset, dropout", [("colormnist", 0.2), ("digits", 0.2), ("cifar10", 0.0),
                                              ("celeba", 0.0)])
def test_dcgan_dropout_defaults_to_the_papers_network_for_the_dataset(dataset, dropout):
    """Table 3's dropout belongs to the ColorMNIST discriminator; the CIFAR-10 / CelebA networks
    (the WGAN-GP code's) have none."""
    from torch import nn

    from trainer import build_algorithm

    cfg = TrialConfig(model="dcgan", dataset=dataset, device="cpu", width=0.125, latent_dim=8)
    assert cfg.dcgan_dropout == dropout
    layers = [m for m in build_algorithm(cfg).nets["discriminator"].modules() if isinstance(m, nn.Dropout)]
    assert [m.p for m in layers] == ([dropout] if dropout else [])
    assert TrialConfig(model="dcgan", dataset=dataset, dcgan_dropout=0.5).dcgan_dropout == 0.5


def test_a_device_this_machine_lacks_is_one_clear_line():
    """Refused before any work, instead of CUDA's multi-line traceback at the first tensor: a GPU
    index past this machine's last GPU (cuda:0 where there is none)."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = f"cuda:{count}"
    with pytest.raises(ConfigError) as err:
        resolve_device(missing)
    text = str(err.value)
    assert text.startswith(f"device: {missing}, but ") and "\n" not in text
    assert ("sees no CUDA GPU" in text) if count == 0 else (f"this machine has {count} CUDA GPU" in text)
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if count else "cpu")
    if count:
        assert resolve_device(f"cuda:{count - 1}") == f"cuda:{count - 1}"
    with pytest.raises(ConfigError, match="'gpu' is not one of auto, cpu, cuda, cuda:N, mps"):
        resolve_device("gpu")
