"""Every model trains on real data with finite losses; α-GAN learns to reconstruct."""

import math

import pytest

from trainer import TrialConfig, load_dataset, train

MODELS = ["alphagan", "dcgan", "wgangp", "age"]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", log=lambda m: None)


@pytest.fixture(scope="module")
def colormnist(shared_data):
    return load_dataset("colormnist", shared_data, log=lambda m: None)


def short_run(model, data, tmp_path, **overrides):
    values = dict(model=model, dataset=data.name, device="cpu", width=0.25, latent_dim=10,
                  max_iter=20, report_every=10)
    values.update(overrides)
    reports = []
    result = train(TrialConfig(**values), reports.append, tmp_path, data=data, log=lambda m: None)
    return result, reports


def assert_trained(result, reports):
    assert result.status == "finished", result.message
    assert [r.iteration for r in reports] == [10, 20]
    assert "sample_channels" in reports[-1].images and reports[-1].images["sample_channels"].is_file()
    for report in reports:
        assert report.metrics and all(math.isfinite(v) for v in report.metrics.values())


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_model_trains_on_digits(model, digits, tmp_path):
    assert_trained(*short_run(model, digits, tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_model_trains_on_colormnist_from_the_shared_mnist_files(model, colormnist, tmp_path):
    assert_trained(*short_run(model, colormnist, tmp_path))


@pytest.mark.slow
def test_alphagan_learns_to_reconstruct_digits(digits, tmp_path):
    result, reports = short_run("alphagan", digits, tmp_path, max_iter=300, report_every=50,
                                lr_generator=5e-4)
    recon = [r.metrics["reconstruction_l1"] for r in reports]
    assert result.status == "finished"
    assert recon[-1] < 0.6 * recon[0], recon
