"""Datasets on real files: the shared MNIST test set, scikit-learn's digits, and CIFAR-10 /
CelebA folders laid out as torchvision lays them (written here with real image files)."""

import gzip
import hashlib
import pickle
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from trainer.data import BatchSampler, DatasetError, load_dataset, to_float
from trainer.data.mnist_idx import IMAGE_MAGIC, read_idx
from trainer.data.stacked import mode_index

OFFICIAL_MD5 = {"t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}


@pytest.fixture(scope="module")
def colormnist(shared_data):
    messages = []
    data = load_dataset("colormnist", shared_data, log=messages.append)
    return data, messages


def test_shared_files_are_the_official_mnist_test_set(shared_data):
    for name, md5 in OFFICIAL_MD5.items():
        assert hashlib.md5((shared_data / "mnist" / name).read_bytes()).hexdigest() == md5


def test_colormnist_from_the_test_set_alone_splits_it_and_says_so(colormnist):
    data, messages = colormnist
    assert any("only the MNIST test set" in m and "8,000 train / 1,000 validation / 1,000 test" in m
               for m in messages)
    assert data.train.shape == (60_000, 3, 28, 28) and data.train.dtype == torch.uint8
    assert data.val.shape == (10_000, 3, 28, 28) and data.test.shape == (10_000, 3, 28, 28)
    assert data.labels["test"].shape == (10_000, 3)


def test_each_channel_is_a_real_mnist_digit_with_its_label_and_splits_are_disjoint(colormnist, shared_data):
    data, _ = colormnist
    raw = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz", IMAGE_MAGIC)
    labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz", 2049)
    label_of = {img.tobytes(): int(lab) for img, lab in zip(raw, labels, strict=True)}
    used = {}
    for split in ("train", "val", "test"):
        images, digits = data.split(split)[:2000].numpy(), data.labels[split][:2000].numpy()
        used[split] = set()
        for image, three in zip(images, digits, strict=True):
            for channel in range(3):
                key = image[channel].tobytes()
                assert label_of[key] == three[channel]
                used[split].add(key)
    assert not used["train"] & used["test"] and not used["train"] & used["val"]
    assert not used["val"] & used["test"]


def test_stacked_test_split_covers_nearly_all_1000_modes(colormnist):
    data, _ = colormnist
    assert len(torch.unique(mode_index(data.labels["test"]))) > 990


def test_uncompressed_files_in_torchvision_layout_load_the_same(tmp_path, shared_data, colormnist):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in OFFICIAL_MD5:
        with gzip.open(shared_data / "mnist" / name) as src:
            (raw / name[:-3]).write_bytes(src.read())
    data = load_dataset("colormnist", tmp_path, log=lambda m: None)
    assert torch.equal(data.test, colormnist[0].test)


def test_missing_mnist_says_where_the_files_must_be(tmp_path):
    with pytest.raises(DatasetError, match=r"MNIST not found under .*put the idx files.*mnist/"):
        load_dataset("colormnist", tmp_path)
    with pytest.raises(DatasetError, match="pass --data-root DIR"):
        load_dataset("colormnist", None)


def test_corrupt_mnist_file_is_named(tmp_path, shared_data):
    folder = tmp_path / "mnist"
    folder.mkdir()
    shutil.copy(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz", folder)
    data = gzip.decompress((shared_data / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    (folder / "t10k-images-idx3-ubyte").write_bytes(data[:50_000])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte is truncated or corrupt"):
        load_dataset("colormnist", tmp_path)
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    with pytest.raises(DatasetError, match="bad magic number"):
        load_dataset("colormnist", tmp_path)


def test_digits_are_sklearn_digits_stacked_and_need_no_files():
    messages = []
    data = load_dataset("digits", log=messages.append)
    assert data.train.shape == (20_000, 3, 28, 28) and data.test.shape == (10_000, 3, 28, 28)
    assert data.train[:, :, :4].max() == 0                    # MNIST-like empty border
    assert data.train.max() == 255 and messages and "1,797" in messages[0]
    assert len(torch.unique(mode_index(data.labels["test"]))) > 990


def write_cifar(root, n_train=60, n_test=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        batch = {b"data": rng.integers(0, 256, (n_train, 3072), dtype=np.uint8), b"labels": [0] * n_train}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    test = {b"data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), b"labels": [0] * n_test}
    (folder / "test_batch").write_bytes(pickle.dumps(test))
    return folder


def test_a_data_root_under_home_may_be_written_with_a_tilde(tmp_path, monkeypatch):
    """`data_root: ~/data` in a spec (YAML does not expand ~, nor `--set data_root=~/data`) was read
    as a folder named '~', and the dataset was 'not found under ~/data'."""
    from trainer.data import split_sizes

    write_cifar(tmp_path / "data")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("trainer.data.cifar10.VAL_SIZE", 50)
    assert len(load_dataset("cifar10", "~/data", log=lambda m: None).train) == 250
    assert split_sizes("cifar10", "~/data") == {"train": 250, "val": 50, "test": 20}
    with pytest.raises(DatasetError, match=f"CIFAR-10 not found under {tmp_path}/elsewhere"):
        load_dataset("cifar10", "~/elsewhere")


def test_cifar10_from_torchvision_layout(tmp_path, monkeypatch):
    folder = write_cifar(tmp_path)
    monkeypatch.setattr("trainer.data.cifar10.VAL_SIZE", 50)
    data = load_dataset("cifar10", tmp_path, log=lambda m: None)
    assert data.image_shape == (3, 32, 32)
    assert (len(data.train), len(data.val), len(data.test)) == (250, 50, 20)
    first = pickle.loads((folder / "test_batch").read_bytes())[b"data"][0].reshape(3, 32, 32)
    assert np.array_equal(data.test[0].numpy(), first)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="incomplete: missing data_batch_3"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(DatasetError, match="CIFAR-10 not found under .*cifar-10-batches-py"):
        load_dataset("cifar10", tmp_path / "elsewhere")


def write_celeba(root, count=12):
    images = root / "celeba" / "img_align_celeba"
    images.mkdir(parents=True)
    lines = []
    for i in range(count):
        face = np.zeros((218, 178, 3), dtype=np.uint8)         # CelebA's aligned size
        face[:, :] = (0, 0, 255)                                # border: blue
        face[55:163, 35:143] = (200, 40 + 10 * i, 20)           # the 108x108 centre crop
        Image.fromarray(face).save(images / f"{i:06d}.jpg", quality=98)
        lines.append(f"{i:06d}.jpg {0 if i < 8 else 1 if i < 10 else 2}")
    (root / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")


def test_celeba_is_centre_cropped_resized_and_cached(tmp_path):
    write_celeba(tmp_path)
    messages = []
    data = load_dataset("celeba", tmp_path, log=messages.append)
    assert data.image_shape == (3, 64, 64)
    assert (len(data.train), len(data.val), len(data.test)) == (8, 2, 2)
    centre = data.train[3].float()                             # the crop holds no blue border
    assert abs(centre[0].mean() - 200) < 6 and centre[2].mean() < 30
    assert "decoding 12 faces" in messages[0]
    messages.clear()
    again = load_dataset("celeba", tmp_path, log=messages.append)
    assert "from the cache" in messages[0] and torch.equal(again.train, data.train)


def test_celeba_missing_says_where(tmp_path):
    with pytest.raises(DatasetError, match=r"celeba/img_align_celeba does not exist"):
        load_dataset("celeba", tmp_path)


def test_sampler_is_deterministic_resumable_and_covers_each_epoch():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 2, 2).contiguous()
    a = BatchSampler(images, 4, seed=3, device=torch.device("cpu"))
    first_epoch = torch.cat([a.indices(5), a.indices(5)])
    assert sorted(first_epoch.tolist()) == list(range(10))
    state = a.state_dict()
    ahead = [a.next(2) for _ in range(3)]
    b = BatchSampler(images, 4, seed=99, device=torch.device("cpu"))
    b.load_state_dict(state)
    assert all(torch.equal(x, b.next(2)) for x in ahead)
    assert ahead[0].shape == (8, 3, 2, 2) and ahead[0].min() >= -1 and ahead[0].max() <= 1
    assert torch.equal(to_float(images[:1]), images[:1].float() / 127.5 - 1)
