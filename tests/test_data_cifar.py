"""Tests for the CIFAR-10 python-pickle loader, on a tiny fake cifar-10-batches-py folder."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sagan.data.cifar import Cifar10Dataset, find_cifar10_dir
from sagan.errors import SaganError

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_BATCH = 4


def _batch(first_label: int, count: int = PER_BATCH) -> dict:
    data = np.zeros((count, 3072), dtype=np.uint8)
    data[0, :1024] = 255  # image 0: red plane full, green and blue empty
    data[1, :1024], data[1, 1024:2048], data[1, 2048:] = 10, 20, 30  # image 1: one value a plane
    data[2:, 32] = 200  # images 2+: the first pixel of row 1 of the red plane (row-major)
    labels = [(first_label + i) % 10 for i in range(count)]
    return {b"batch_label": b"fake", b"labels": labels, b"data": data, b"filenames": [b"x"] * count}


def _dump(path: Path, obj: object) -> None:
    with path.open("wb") as handle:
        pickle.dump(obj, handle, protocol=2)


@pytest.fixture
def cifar_parent(tmp_path: Path) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        _dump(folder / f"data_batch_{i}", _batch(first_label=i))
    _dump(folder / "test_batch", _batch(first_label=0, count=3))
    _dump(folder / "batches.meta", {b"label_names": [n.encode() for n in NAMES]})
    return tmp_path


def test_find_cifar10_dir(cifar_parent: Path, tmp_path_factory) -> None:
    folder = cifar_parent / "cifar-10-batches-py"
    assert find_cifar10_dir(cifar_parent) == folder
    assert find_cifar10_dir(folder) == folder
    assert find_cifar10_dir(tmp_path_factory.mktemp("other")) is None
    assert find_cifar10_dir(cifar_parent / "missing") is None


def test_train_split_shapes_labels_and_classes(cifar_parent: Path) -> None:
    logs: list[str] = []
    ds = Cifar10Dataset(cifar_parent, 32, log=logs.append)
    assert len(ds) == 5 * PER_BATCH
    assert ds.images.shape == (20, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.long
    expected = [(b + i) % 10 for b in range(1, 6) for i in range(PER_BATCH)]
    assert ds.labels.tolist() == expected
    assert ds.classes == NAMES and ds.num_classes == 10
    image, label, skipped = ds[5]
    assert image.shape == (3, 32, 32) and label == expected[5] and skipped == 0
    assert isinstance(label, int)
    assert logs == []


def test_channel_order_is_red_green_blue(cifar_parent: Path) -> None:
    ds = Cifar10Dataset(cifar_parent / "cifar-10-batches-py", 32, log=lambda _: None)
    red, _, _ = ds[0]
    assert red[0].min() == 255 and red[1:].max() == 0
    planes, _, _ = ds[1]
    assert planes[:, 5, 7].tolist() == [10, 20, 30]
    assert torch.all(planes == planes[:, :1, :1])
    dot, _, _ = ds[2]
    assert dot[0, 1, 0] == 200 and int(dot.sum()) == 200


def test_test_split(cifar_parent: Path) -> None:
    ds = Cifar10Dataset(cifar_parent, 32, log=lambda _: None, split="test")
    assert len(ds) == 3 and ds.labels.tolist() == [0, 1, 2]
    with pytest.raises(SaganError):
        Cifar10Dataset(cifar_parent, 32, log=lambda _: None, split="validation")


def test_resize_to_64(cifar_parent: Path) -> None:
    logs: list[str] = []
    ds = Cifar10Dataset(cifar_parent, 64, log=logs.append)
    assert ds.images.shape == (20, 3, 64, 64) and ds.images.dtype == torch.uint8
    red, _, _ = ds[0]
    assert red[0].min() == 255 and red[1:].max() == 0
    assert torch.all(ds[1][0] == torch.tensor([10, 20, 30], dtype=torch.uint8)[:, None, None])
    assert len(logs) == 1 and "64x64" in logs[0]


def _raises_one_line(root: Path, fragment: str) -> None:
    with pytest.raises(SaganError) as caught:
        Cifar10Dataset(root, 32, log=lambda _: None)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_batch_is_named(cifar_parent: Path) -> None:
    (cifar_parent / "cifar-10-batches-py" / "data_batch_3").unlink()
    _raises_one_line(cifar_parent, "data_batch_3' is missing")


def test_corrupt_batch_is_named(cifar_parent: Path) -> None:
    path = cifar_parent / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:100])
    _raises_one_line(cifar_parent, "data_batch_2' is corrupt")


def test_batch_with_wrong_layout_is_named(cifar_parent: Path) -> None:
    _dump(cifar_parent / "cifar-10-batches-py" / "data_batch_4", {b"data": [1, 2, 3]})
    _raises_one_line(cifar_parent, "data_batch_4")


def test_pickle_with_foreign_objects_is_refused(cifar_parent: Path) -> None:
    # A pickle that would call os.system when loaded must be rejected, not run.
    malicious = b"cos\nsystem\n(S'echo hacked'\ntR."
    (cifar_parent / "cifar-10-batches-py" / "data_batch_1").write_bytes(malicious)
    _raises_one_line(cifar_parent, "data_batch_1' is corrupt")


def test_no_cifar_folder(tmp_path: Path) -> None:
    _raises_one_line(tmp_path, "no CIFAR-10 batches")
