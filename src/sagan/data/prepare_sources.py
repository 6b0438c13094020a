"""Where ``sagan prepare`` reads images from: an image folder or CIFAR-10, in chunks.

A ``Source`` names the classes, counts the candidate images, fingerprints the input (so a
resumed preparation can tell it is the same) and decodes chunks exactly as
ImageFolderDataset and Cifar10Dataset decode images, in worker processes for folders.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sagan.errors import SaganError

# (images uint8 [k, 3, R, R], labels int64 [k], skipped [(name, reason)]) for one chunk
Chunk = tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]


@dataclass
class Source:
    """What to convert: class names, the number of candidates and how to decode a chunk."""

    kind: str
    path: Path
    classes: list[str]
    count: int
    fingerprint: str
    chunks: Callable[[int, int, int, int], Iterator[Chunk]]
    drop_empty_classes: bool = True


def _fingerprint(parts: list[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def _folder_source(root: Path, log: Callable[[str], None]) -> Source:
    """An image folder with one subfolder per class, scanned like ImageFolderDataset."""
    from sagan.data.folder import relative_name, scan_image_folder

    names, candidates = scan_image_folder(root, log)
    rel = [relative_name(path, root) for path, _ in candidates]
    parts = [f"classes={'/'.join(names)}"]
    for name, (path, label) in zip(rel, candidates):
        try:
            size = os.stat(path).st_size
        except OSError:
            size = -1
        parts.append(f"{label}:{name}:{size}")

    def chunks(resolution: int, size: int, first: int, workers: int) -> Iterator[Chunk]:
        tasks = (
            (
                [path for path, _ in candidates[start : start + size]],
                [label for _, label in candidates[start : start + size]],
                rel[start : start + size],
                resolution,
            )
            for start in range(first * size, len(candidates), size)
        )
        if workers <= 0:
            yield from map(_decode_chunk, tasks)
            return
        with multiprocessing.Pool(workers, initializer=_worker_init) as pool:
            yield from pool.imap(_decode_chunk, tasks)

    return Source("image-folder", root, names, len(candidates), _fingerprint(parts), chunks)


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled once, by the parent
    import torch

    torch.set_num_threads(1)


def _decode_chunk(task: tuple[list[str], list[int], list[str], int]) -> Chunk:
    """Decode one chunk of files; failures are returned with their reasons, not raised."""
    from sagan.data.folder import decode_image_file, skip_reason

    paths, labels, names, resolution = task
    images: list[np.ndarray] = []
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    for path, label, name in zip(paths, labels, names):
        try:
            images.append(decode_image_file(path, resolution).numpy())
            kept.append(label)
        except Exception as error:  # any failure means "skip this file"
            skipped.append((name, skip_reason(error)))
    shape = (len(images), 3, resolution, resolution)
    stacked = np.stack(images) if images else np.empty(shape, np.uint8)
    return stacked, np.asarray(kept, dtype=np.int64), skipped


def _cifar_source(folder: Path) -> Source:
    """A CIFAR-10 'cifar-10-batches-py' folder (its train split), resized like Cifar10Dataset."""
    from sagan.data.cifar import META_FILE as CIFAR_META
    from sagan.data.cifar import TRAIN_FILES, load_cifar10, resize_uint8

    classes, images, labels = load_cifar10(folder, "train")
    parts = [f"{name}:{(folder / name).stat().st_size}" for name in (CIFAR_META, *TRAIN_FILES)]
    all_labels = np.asarray(labels, dtype=np.int64)

    def chunks(resolution: int, size: int, first: int, workers: int) -> Iterator[Chunk]:
        for start in range(first * size, len(all_labels), size):
            batch = images[start : start + size]
            if resolution != 32:
                batch = resize_uint8(batch, resolution)
            yield batch.numpy(), all_labels[start : start + size], []

    return Source("cifar10", folder, classes, len(all_labels), _fingerprint(parts), chunks, False)


def open_source(src: Path, log: Callable[[str], None]) -> Source:
    if not src.exists():
        raise SaganError(
            f"source '{src}' does not exist: pass an image folder with one subfolder per class "
            "or a CIFAR-10 'cifar-10-batches-py' folder"
        )
    from sagan.data.cifar import find_cifar10_dir

    cifar = find_cifar10_dir(src) if src.is_dir() else None
    if cifar is not None:
        return _cifar_source(cifar.resolve())
    return _folder_source(src, log)
