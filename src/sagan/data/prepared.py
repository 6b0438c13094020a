"""The prepared dataset format that ``sagan prepare`` writes, and its reader.

A prepared dataset is a folder holding

- ``images.u8``: every image, already decoded and resized, as one raw uint8 array
  N x 3 x R x R in C order (no header), read through ``numpy.memmap`` so that each
  DataLoader worker or DDP rank touches only the images it is asked for;
- ``labels.npy``: the N labels, int64;
- ``meta.json``: format name, version, resolution, classes, count, source and whether the
  conversion is complete;
- ``skipped.txt``: the source files that could not be used, one per line with the reason.

While a conversion runs, ``progress.json`` and ``labels.partial`` sit beside them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from sagan.errors import SaganError

FORMAT = "sagan-prepared"
VERSION = 1
META_FILE = "meta.json"
IMAGES_FILE = "images.u8"
LABELS_FILE = "labels.npy"
SKIPPED_FILE = "skipped.txt"
PROGRESS_FILE = "progress.json"
PARTIAL_LABELS_FILE = "labels.partial"


def image_bytes(resolution: int) -> int:
    """Bytes of one image of side `resolution` in images.u8."""
    return 3 * resolution * resolution


def write_json(path: Path, content: dict[str, Any]) -> None:
    """Write JSON atomically: a crash leaves either the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as handle:
        json.dump(content, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The parsed meta.json of `folder`, None if there is none; SaganError if unreadable."""
    path = folder / META_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SaganError(
            f"'{path}' is not readable JSON ({type(error).__name__}): delete '{folder}' and "
            "run `sagan prepare SRC DST` again"
        ) from None
    if not isinstance(meta, dict):
        raise SaganError(f"'{path}' is not a sagan prepared dataset: {_USE_ANOTHER}")
    return meta


_USE_ANOTHER = "pass a folder made by `sagan prepare`, an image folder or CIFAR-10 as --data"


def check_format(meta: dict[str, Any], folder: Path) -> None:
    """SaganError unless `meta` is a meta.json of a prepared dataset this version can read."""
    if meta.get("format") != FORMAT:
        found = meta.get("format")
        what = f"format {found!r}" if found else "no 'format' field"
        raise SaganError(
            f"'{folder / META_FILE}' is not a sagan prepared dataset ({what}, expected "
            f"{FORMAT!r}): {_USE_ANOTHER}"
        )
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise SaganError(
            f"'{folder}' was prepared by a newer sagan (format version {version}; this one "
            f"reads up to {VERSION}): upgrade sagan, or run this sagan's `sagan prepare` again"
        )


def is_prepared_folder(path: Path) -> bool:
    """True when `path` looks like a prepared dataset, complete or not (for load_dataset).

    A folder counts when it has images.u8 or labels.npy, or a meta.json naming this format,
    so that a damaged one gets a precise error instead of being read as an image folder.
    """
    if not path.is_dir():
        return False
    if (path / IMAGES_FILE).exists() or (path / LABELS_FILE).exists():
        return True
    try:
        meta = json.loads((path / META_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def _redo(meta: dict[str, Any], folder: Path) -> str:
    source = meta.get("source") or "SRC"
    return f"delete '{folder}' and run `sagan prepare {source} {folder}` again"


class PreparedDataset(Dataset):
    """A folder written by ``sagan prepare``, read-only through a memory map.

    Items are (uint8 tensor [3, R, R], label, 0) like the other datasets; the 0 is the
    count of skipped files, which were dropped when the folder was prepared. Attributes:
    `classes`, `num_classes`, `labels` (torch.long [N]), `resolution`, `meta`, `root`.
    """

    def __init__(
        self, path: str | Path, resolution: int, log: Callable[[str], None] = print
    ) -> None:
        self.root = Path(path)
        self.resolution = int(resolution)
        self.meta = self._read_meta()
        meta, root = self.meta, self.root
        prepared = meta.get("resolution")
        if prepared != self.resolution:
            source = meta.get("source") or "SRC"
            raise SaganError(
                f"'{root}' holds {prepared}x{prepared} images but this preset needs "
                f"{self.resolution}x{self.resolution}: run `sagan prepare {source} "
                f"{root}-{self.resolution} --resolution {self.resolution}` and train on that, "
                f"or pick a preset of resolution {prepared}"
            )
        count, classes = meta.get("count"), meta.get("classes")
        if not isinstance(count, int) or count < 1 or not isinstance(classes, list):
            raise SaganError(
                f"'{root / META_FILE}' lacks a valid count or classes: {_redo(meta, root)}"
            )
        self.classes: list[str] = [str(c) for c in classes]
        self.num_classes = len(self.classes)
        self.count = count
        self._check_images()
        self.labels = self._read_labels()
        self._images: np.memmap | None = None
        skipped = meta.get("skipped") or 0
        if skipped:
            log(
                f"note: '{root}' was prepared without {skipped} unreadable source files "
                f"(listed in '{root / SKIPPED_FILE}')"
            )

    def _read_meta(self) -> dict[str, Any]:
        root = self.root
        if not root.is_dir():
            raise SaganError(f"prepared dataset '{root}' is not a folder: {_USE_ANOTHER}")
        meta = read_meta(root)
        if meta is None:
            raise SaganError(
                f"'{root}' has no {META_FILE}, so it is not a usable prepared dataset: "
                f"delete it and run `sagan prepare SRC {root}`"
            )
        check_format(meta, root)
        if meta.get("complete") is not True:
            source = meta.get("source") or "SRC"
            raise SaganError(
                f"'{root}' is an unfinished conversion: run `sagan prepare {source} {root}` "
                "again to finish it"
            )
        return meta

    def _check_images(self) -> None:
        path = self.root / IMAGES_FILE
        if not path.is_file():
            raise SaganError(f"'{path}' is missing: {_redo(self.meta, self.root)}")
        expected = self.count * image_bytes(self.resolution)
        size = path.stat().st_size
        if size != expected:
            raise SaganError(
                f"'{path}' has {size:,} bytes but {META_FILE} says {self.count:,} images of "
                f"{self.resolution}x{self.resolution}, {expected:,} bytes (truncated or "
                f"damaged): {_redo(self.meta, self.root)}"
            )

    def _read_labels(self) -> torch.Tensor:
        path = self.root / LABELS_FILE
        if not path.is_file():
            raise SaganError(f"'{path}' is missing: {_redo(self.meta, self.root)}")
        try:
            labels = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise SaganError(
                f"'{path}' is unreadable ({type(error).__name__}, truncated or damaged): "
                f"{_redo(self.meta, self.root)}"
            ) from None
        valid = (
            labels.shape == (self.count,)
            and labels.dtype == np.int64
            and (self.count == 0 or 0 <= labels.min() <= labels.max() < self.num_classes)
        )
        if not valid:
            raise SaganError(
                f"'{path}' does not hold {self.count:,} int64 labels in 0..{self.num_classes - 1}"
                f" as {META_FILE} says: {_redo(self.meta, self.root)}"
            )
        return torch.from_numpy(labels)

    def _memmap(self) -> np.memmap:
        if self._images is None:
            shape = (self.count, 3, self.resolution, self.resolution)
            self._images = np.memmap(self.root / IMAGES_FILE, np.uint8, "r", shape=shape)
        return self._images

    def __getstate__(self) -> dict[str, Any]:
        # Each process (DataLoader worker, DDP rank) opens its own map instead of pickling it.
        state = dict(self.__dict__)
        state["_images"] = None
        return state

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        """Return (image uint8 [3, R, R], label, 0)."""
        image = np.array(self._memmap()[index], dtype=np.uint8)  # a copy, off the map
        return torch.from_numpy(image), int(self.labels[index]), 0
