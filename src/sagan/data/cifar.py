"""CIFAR-10 from its "python version" download (the cifar-10-batches-py folder).

The whole split is held in memory as one uint8 tensor (150 MB at 32x32), already resized to
the training resolution, so that __getitem__ is a plain index.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from sagan.errors import SaganError

CIFAR10_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"
_ALL_FILES = (META_FILE, *TRAIN_FILES, *TEST_FILES)

_DOWNLOAD_HINT = (
    "download and extract cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html"
)
_RESIZE_CHUNK = 2048  # bounds the float scratch memory of the resize

# The batches are pickles of numpy arrays and lists. Unpickling may run arbitrary code, so
# only the few globals that numpy arrays need are allowed.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    """Unpickle one CIFAR file; SaganError naming the file if it is missing or corrupt."""
    if not path.is_file():
        raise SaganError(f"CIFAR-10 file '{path}' is missing: {_DOWNLOAD_HINT} again")
    try:
        with path.open("rb") as handle:
            content = _ArrayUnpickler(handle, encoding="bytes").load()
    except Exception as error:  # any failure means the file is not a usable batch
        raise SaganError(
            f"CIFAR-10 file '{path}' is corrupt ({type(error).__name__}): {_DOWNLOAD_HINT} again"
        ) from error
    if not isinstance(content, dict):
        raise SaganError(f"CIFAR-10 file '{path}' is not a CIFAR-10 batch: {_DOWNLOAD_HINT}")
    return content


def _load_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """Return (data [N, 3072] uint8, labels) from one data batch, validating its layout."""
    content = _load_pickle(path)
    data, labels = content.get(b"data"), content.get(b"labels")
    valid = (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == 3 * 32 * 32
        and labels is not None
        and len(labels) == data.shape[0]
    )
    if not valid:
        raise SaganError(
            f"CIFAR-10 file '{path}' lacks a uint8 N x 3072 b'data' array with N b'labels': "
            f"{_DOWNLOAD_HINT} again"
        )
    return data, [int(label) for label in labels]


def find_cifar10_dir(path: str | Path) -> Path | None:
    """Return the CIFAR-10 batch folder if `path` is one or holds a 'cifar-10-batches-py' one.

    A folder counts when it has 'batches.meta' or any batch file, even if others are
    missing, so that an incomplete copy gets a precise "file is missing" error from
    Cifar10Dataset instead of being mistaken for a folder of class subfolders.
    """
    path = Path(path)
    if path.is_dir() and any((path / name).is_file() for name in _ALL_FILES):
        return path
    nested = path / CIFAR10_FOLDER
    return nested if nested.is_dir() else None


def resize_uint8(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize a uint8 batch [N, 3, H, W] to [N, 3, R, R] with antialiased bicubic, in chunks."""
    out = torch.empty((images.shape[0], 3, resolution, resolution), dtype=torch.uint8)
    for start in range(0, images.shape[0], _RESIZE_CHUNK):
        chunk = images[start : start + _RESIZE_CHUNK]
        out[start : start + len(chunk)] = F.resize(
            chunk, [resolution, resolution], InterpolationMode.BICUBIC, antialias=True
        )
    return out


def load_cifar10(
    root: str | Path, split: str = "train"
) -> tuple[list[str], torch.Tensor, list[int]]:
    """Read a CIFAR-10 split: (class names, uint8 images [N, 3, 32, 32], labels).

    Raises SaganError naming the file when a batch is missing or corrupt.
    """
    if split not in ("train", "test"):
        raise SaganError(f"unknown CIFAR-10 split {split!r}: use 'train' or 'test'")
    folder = find_cifar10_dir(root)
    if folder is None:
        raise SaganError(
            f"no CIFAR-10 batches in '{root}': pass the '{CIFAR10_FOLDER}' folder or its "
            f"parent ({_DOWNLOAD_HINT})"
        )
    names = _load_pickle(folder / META_FILE).get(b"label_names")
    if not names:
        raise SaganError(
            f"CIFAR-10 file '{folder / META_FILE}' has no b'label_names': {_DOWNLOAD_HINT}"
        )
    classes: list[str] = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    batches = [_load_batch(folder / name) for name in _split_files(split)]
    labels = [label for _, batch_labels in batches for label in batch_labels]
    if any(not 0 <= label < len(classes) for label in labels):
        raise SaganError(
            f"CIFAR-10 labels in '{folder}' fall outside the {len(classes)} classes of "
            f"'{META_FILE}': {_DOWNLOAD_HINT} again"
        )
    data = np.concatenate([batch for batch, _ in batches])
    # Each row is the red plane, then green, then blue, each 32x32 row-major.
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32))
    return classes, images, labels


class Cifar10Dataset(Dataset):
    """CIFAR-10 'train' (data_batch_1..5, 50,000 images) or 'test' (test_batch, 10,000).

    Items are (uint8 tensor [3, R, R], label, 0); the trailing 0 matches ImageFolderDataset's
    count of skipped files. Attributes: `images` (uint8 [N, 3, R, R]), `labels` (torch.long
    [N]), `classes` (names from batches.meta), `num_classes`.
    """

    def __init__(
        self,
        root: str | Path,
        resolution: int,
        log: Callable[[str], None] = print,
        split: str = "train",
    ) -> None:
        self.classes, images, labels = load_cifar10(root, split)
        self.num_classes = len(self.classes)
        if resolution != 32:
            size = f"{resolution}x{resolution}"
            log(f"note: resizing {len(images)} CIFAR-10 images from 32x32 to {size}")
            images = resize_uint8(images, resolution)
        self.images = images.contiguous()
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        """Return (image uint8 [3, R, R], label, 0)."""
        return self.images[index], int(self.labels[index]), 0


def _split_files(split: str) -> tuple[str, ...]:
    return TRAIN_FILES if split == "train" else TEST_FILES
