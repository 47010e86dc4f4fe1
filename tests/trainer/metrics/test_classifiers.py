"""In-domain classifiers and the reference evaluation on the real MNIST test set."""

import pytest
import torch
from torch import nn

from trainer import load_dataset
from trainer.data import to_float
from trainer.metrics import (
    MetricsError,
    StackedDigitClassifier,
    VGGClassifier,
    evaluate_images,
    load_or_train_classifier,
)
from trainer.metrics.classifiers import TABLE_5, accuracy, classifier_path

from ..test_data import write_cifar


@pytest.fixture(scope="module")
def colormnist(shared_data):
    return load_dataset("colormnist", shared_data, log=lambda m: None)


@pytest.fixture(scope="module")
def classifier(colormnist):
    return load_or_train_classifier(colormnist, log=lambda m: None)


@pytest.mark.slow
def test_digit_classifier_is_accurate_and_kept(colormnist, classifier):
    assert accuracy(classifier, colormnist) > 0.95
    assert classifier_path(colormnist).is_file()
    messages = []
    again = load_or_train_classifier(colormnist, log=messages.append)      # from the cache
    assert messages == [] and all(torch.equal(a, b) for a, b in
                                  zip(again.parameters(), classifier.parameters(), strict=True))


@pytest.mark.slow
def test_reference_colormnist_covers_the_modes_and_a_collapsed_generator_does_not(colormnist, classifier):
    test = to_float(colormnist.test)
    reference = evaluate_images(test, colormnist, classifier=classifier)
    assert reference["modes"] > 950 and reference["mode_kl"] < 0.1
    assert reference["inception_score"] > 400         # 1000 samples per split cover ~630 modes
    assert reference["fid"] < 1.0                     # the test split against itself
    fid_floor = evaluate_images(test, colormnist, classifier=classifier,
                                fid_images=to_float(colormnist.train[:10_000]))["fid"]
    assert reference["fid"] < fid_floor < 30          # 10,000 vs 10,000 images: 14.6 measured
    collapsed = evaluate_images(test[:1].expand(10_000, -1, -1, -1), colormnist, classifier=classifier)
    assert collapsed["modes"] == 1 and collapsed["inception_score"] == pytest.approx(1.0, abs=1e-6)
    assert collapsed["sample_diversity"] == pytest.approx(0.0, abs=1e-6)
    assert collapsed["fid"] > 10 * max(reference["fid"], 1.0)


def test_stacked_classifier_reads_each_channel():
    model = StackedDigitClassifier().eval()
    x = torch.randn(4, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        per_channel = model.channel_logits(x)
        # one batch of 12 single-channel digits against a batch of 4: equal up to float32 rounding
        # (the default atol of 1e-8 failed on some unseeded inputs, depending on the tests run before)
        assert torch.allclose(per_channel[:, 1], model.digit(x[:, 1:2]), atol=1e-6)
        probs = model.mode_probabilities(x)
    assert probs.shape == (4, 1000) and torch.allclose(probs.sum(1), torch.ones(4))


def test_vgg_classifier_is_table_5():
    model = VGGClassifier()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.stride[0], m.out_channels, m.kernel_size[0]) for m in convs] == [(s, c, 3) for s, c in TABLE_5]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == len(TABLE_5)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_vgg_classifier_trains_on_cifar_layout(tmp_path, monkeypatch):
    write_cifar(tmp_path)
    monkeypatch.setattr("trainer.data.cifar10.VAL_SIZE", 50)
    data = load_dataset("cifar10", tmp_path, log=lambda m: None)
    model = load_or_train_classifier(data, steps=4, log=lambda m: None)
    assert isinstance(model, VGGClassifier) and classifier_path(data).is_file()


def test_no_classifier_for_celeba_is_a_clear_error():
    data = load_dataset("synthetic", log=lambda m: None)
    with pytest.raises(MetricsError, match="no in-domain classifier for synthetic"):
        load_or_train_classifier(data)


def test_missing_inception_weights_is_a_clear_error(tmp_path):
    from trainer.metrics.inception_v3 import InceptionClassifier
    with pytest.raises(MetricsError, match="Inception-v3 weights not found at .*--inception-weights FILE"):
        InceptionClassifier(tmp_path / "inception.pth")


def test_wrong_inception_weights_say_why_in_a_short_line(tmp_path):
    """Not the load_state_dict message, which lists each of Inception's 580 tensors (thousands of
    characters on the user's one error line)."""
    from torchvision.models import inception_v3

    from trainer.metrics.inception_v3 import InceptionClassifier

    right = inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    (tmp_path / "text.pth").write_text("not weights")
    torch.save([1, 2], tmp_path / "list.pth")
    torch.save({"a": torch.zeros(2)}, tmp_path / "other.pth")
    torch.save({**right, "fc.weight": torch.zeros(10, 2048)}, tmp_path / "shape.pth")
    for name, reason in [("text", "not a PyTorch weights file: "), ("list", "it holds a list, not a state dict"),
                         ("other", f"{len(right)} of its {len(right)} tensors missing, e.g. AuxLogits.conv0.bn.bias; "
                                   "1 unknown, e.g. a"),
                         ("shape", "fc.weight has shape (10, 2048), expected (1000, 2048)")]:
        with pytest.raises(MetricsError) as err:
            InceptionClassifier(tmp_path / f"{name}.pth")
        message = str(err.value)
        assert message.startswith(f"{tmp_path / name}.pth is not torchvision Inception-v3 weights ({reason}")
        assert message.endswith("--inception-weights FILE") and len(message.replace(str(tmp_path), "")) < 330
    torch.save(right, tmp_path / "right.pth")                        # and weights that fit load
    assert InceptionClassifier(tmp_path / "right.pth").fc.out_features == 1000


def test_an_interrupted_cifar_classifier_training_resumes_where_it_was_and_ends_the_same(tmp_path, monkeypatch):
    """20,000 VGG steps take hours on a CPU; a Ctrl-C or a crash lost them all. The state is kept
    every save_every steps beside the classifier and the next training with the same settings
    resumes from it; the result is the uninterrupted training's, tensor for tensor."""
    from trainer.metrics.classifiers import load_or_train_classifier, partial_path, train_vgg_classifier

    write_cifar(tmp_path)
    monkeypatch.setattr("trainer.data.cifar10.VAL_SIZE", 50)
    monkeypatch.setenv("ALPHAGAN_CACHE", str(tmp_path / "cache"))
    data = load_dataset("cifar10", tmp_path, log=lambda m: None)
    straight = train_vgg_classifier(data, steps=6, log=lambda m: None)
    partial = partial_path(classifier_path(data))
    progress = []

    def crash_at_the_second_progress_line(message):
        progress.append(message)
        if len(progress) == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_vgg_classifier(data, steps=6, partial=partial, save_every=2, log=crash_at_the_second_progress_line)
    assert torch.load(partial, weights_only=True)["step"] == 4
    messages = []
    resumed = load_or_train_classifier(data, steps=6, log=messages.append)
    assert f"cifar10 classifier: resuming at step 4/6 from {partial}" in messages
    for key, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[key]), key
    assert classifier_path(data).is_file() and not partial.exists()
