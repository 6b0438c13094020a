"""Training data: the embedded digits, image folders, CIFAR-10 and prepared datasets.

Every dataset yields ``(uint8 image [3, R, R], label, skipped)`` and has ``classes``
and ``num_classes``. Images stay uint8 until they reach the training device.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch.utils.data import Dataset

from sagan.errors import SaganError


def dataset_name(spec: str) -> str:
    """Short name of a data spec for run-folder names: 'digits' or the folder's name.

    A prepared dataset is named by its own folder, e.g. 'imagenet-128'.
    """
    if spec == "digits":
        return "digits"
    path = Path(spec).expanduser().resolve()
    name = path.name or "data"
    return "cifar10" if name == "cifar-10-batches-py" else name


def load_dataset(spec: str, resolution: int, log: Callable[[str], None] = print) -> Dataset:
    """Open ``--data``: 'digits', a ``sagan prepare`` folder, CIFAR-10 or an image folder.

    Warnings go to ``log`` and are also kept in the dataset's ``messages`` list, so a run
    folder created later can record them.
    """
    messages: list[str] = []

    def note(msg: str) -> None:
        messages.append(msg)
        log(msg)

    dataset = _open(spec, resolution, note)
    dataset.messages = messages
    return dataset


def _open(spec: str, resolution: int, log: Callable[[str], None]) -> Dataset:
    if spec == "digits":
        from sagan.data.digits import DigitsDataset

        return DigitsDataset(resolution)
    path = Path(spec).expanduser()
    if not path.exists():
        raise SaganError(
            f"data path '{spec}' does not exist: pass --data digits, an image folder with one "
            "subfolder per class, or a CIFAR-10 'cifar-10-batches-py' folder"
        )
    from sagan.data.prepared import PreparedDataset, is_prepared_folder

    if is_prepared_folder(path):
        return PreparedDataset(path, resolution, log)
    from sagan.data.cifar import Cifar10Dataset, find_cifar10_dir

    cifar = find_cifar10_dir(path) if path.is_dir() else None
    if cifar is not None:
        return Cifar10Dataset(cifar, resolution, log)
    from sagan.data.folder import ImageFolderDataset

    return ImageFolderDataset(path, resolution, log)
