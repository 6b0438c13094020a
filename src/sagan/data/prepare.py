"""Convert an image folder or CIFAR-10 into the prepared format, once, resumably.

Images are decoded exactly as ImageFolderDataset and Cifar10Dataset decode them, in
fixed-size chunks (in a pool of worker processes for image folders), and each chunk is
written straight into a preallocated memory-mapped ``images.u8``. After every chunk is
flushed, ``progress.json`` records how many chunks are done, so a run stopped by Ctrl-C or
a kill continues where it stopped when started again with the same SRC and DST, and ends
with files byte-identical to an uninterrupted run. ``meta.json`` says ``complete: true``
only once everything else is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sagan.data.prepare_sources import Source, open_source
from sagan.data.prepared import (
    FORMAT,
    IMAGES_FILE,
    LABELS_FILE,
    META_FILE,
    PARTIAL_LABELS_FILE,
    PROGRESS_FILE,
    SKIPPED_FILE,
    VERSION,
    PreparedDataset,
    check_format,
    image_bytes,
    read_meta,
    write_json,
)
from sagan.errors import SaganError

CHUNK_SIZE = 256  # images per chunk: the unit of work, of writing and of resuming


def _write_chunk(
    dst: Path, offset: int, chunk_images: np.ndarray, chunk_labels: np.ndarray
) -> None:
    """Write one decoded chunk at image `offset` through maps of just its range; flush it."""
    if len(chunk_labels) == 0:
        return
    item = int(np.prod(chunk_images.shape[1:]))
    images = np.memmap(
        dst / IMAGES_FILE, np.uint8, "r+", offset=offset * item, shape=chunk_images.shape
    )
    images[:] = chunk_images
    images.flush()
    labels = np.memmap(
        dst / PARTIAL_LABELS_FILE, np.int64, "r+", offset=offset * 8, shape=(len(chunk_labels),)
    )
    labels[:] = chunk_labels
    labels.flush()
    del images, labels


def _ensure_size(path: Path, size: int) -> None:
    """Create `path` or set its length to `size` bytes (sparse where the OS allows)."""
    with path.open("ab") as handle:
        handle.truncate(size)


def _disk_size(dst: Path) -> int:
    names = (META_FILE, IMAGES_FILE, LABELS_FILE, SKIPPED_FILE)
    return sum((dst / n).stat().st_size for n in names if (dst / n).is_file())


def human_size(size: int) -> str:
    """Bytes as '12.3 MB' (powers of 1000)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _summary(dst: Path, meta: dict[str, Any], already: bool) -> dict[str, Any]:
    return {
        "path": str(dst),
        "count": meta["count"],
        "num_classes": meta["num_classes"],
        "classes": meta["classes"],
        "resolution": meta["resolution"],
        "skipped": meta.get("skipped", 0),
        "bytes": _disk_size(dst),
        "already_prepared": already,
    }


def _only_leftovers(dst: Path) -> bool:
    """True when `dst` holds nothing but a meta.json.tmp from a run killed at its start."""
    return all(p.name == META_FILE + ".tmp" for p in dst.iterdir())


def _plan(dst: Path, source: Source, resolution: int) -> str:
    """'new', 'resume' or 'done' for `dst`; SaganError when `dst` must not be touched."""
    if not dst.exists():
        return "new"
    if not dst.is_dir():
        raise SaganError(f"'{dst}' is a file: pass a new or empty folder as DST")
    meta = read_meta(dst)
    if meta is None:
        if not any(dst.iterdir()) or _only_leftovers(dst):
            return "new"
        raise SaganError(
            f"'{dst}' is not empty and holds no prepared dataset: pass a new or empty folder "
            "as DST (nothing was changed)"
        )
    check_format(meta, dst)
    same_source = meta.get("source") == str(source.path) and meta.get("resolution") == resolution
    was = f"'{meta.get('source')}' at {meta.get('resolution')}x{meta.get('resolution')}"
    if not same_source:
        state = "a dataset prepared" if meta.get("complete") else "an unfinished conversion"
        raise SaganError(
            f"'{dst}' already holds {state} from {was}: pass another DST, or delete '{dst}' "
            "first (nothing was changed)"
        )
    if meta.get("fingerprint") != source.fingerprint:
        raise SaganError(
            f"'{source.path}' has changed (files added, removed or resized) since '{dst}' was "
            f"prepared from it: delete '{dst}' to prepare it again, or pass another DST"
        )
    if meta.get("complete") is True:
        return "done"
    return "resume" if (dst / PROGRESS_FILE).is_file() else "new"


def _read_progress(dst: Path, source: Source, resolution: int) -> dict[str, Any] | None:
    """The saved progress if it belongs to this conversion and its files are in place."""
    import json

    try:
        progress = json.loads((dst / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    valid = (
        isinstance(progress, dict)
        and progress.get("fingerprint") == source.fingerprint
        and progress.get("resolution") == resolution
        and isinstance(progress.get("chunk_size"), int)
        and isinstance(progress.get("chunks_done"), int)
        and isinstance(progress.get("written"), int)
        and isinstance(progress.get("skipped"), list)
        and (dst / IMAGES_FILE).is_file()
        and (dst / PARTIAL_LABELS_FILE).is_file()
    )
    return progress if valid else None


def _start_meta(source: Source, resolution: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "complete": False,
        "source": str(source.path),
        "source_kind": source.kind,
        "fingerprint": source.fingerprint,
        "resolution": resolution,
        "layout": "images.u8: uint8 N x 3 x R x R, C order; labels.npy: int64 N",
        "count": None,
        "num_classes": None,
        "classes": None,
        "skipped": None,
    }


def prepare_dataset(
    src: str | Path,
    dst: str | Path,
    resolution: int = 128,
    workers: int = 0,
    log: Callable[[str], None] = print,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, Any]:
    """Convert SRC (image folder or CIFAR-10) into a prepared dataset in DST, or finish it.

    `workers` processes decode images (0: in this process). Returns a summary: path,
    count, num_classes, classes, resolution, skipped, bytes (on disk) and
    already_prepared. Raises SaganError, changing nothing, when DST is a non-empty folder
    that is not a prepared dataset or holds one of another source or resolution.
    """
    if resolution < 4:
        raise SaganError(f"--resolution must be at least 4, got {resolution}")
    if workers < 0:
        raise SaganError(f"--workers must be 0 or more, got {workers}")
    if chunk_size < 1:
        raise SaganError(f"chunk size must be positive, got {chunk_size}")
    src = Path(src).expanduser().resolve()
    dst = Path(dst).expanduser().resolve()
    source = open_source(src, log)
    if dst == source.path or dst.is_relative_to(source.path):
        raise SaganError(
            f"DST '{dst}' is inside SRC '{source.path}': pass a DST folder outside SRC"
        )
    plan = _plan(dst, source, resolution)
    if plan == "done":
        PreparedDataset(dst, resolution, log=lambda _: None)  # SaganError if it is damaged
        _remove_scratch(dst)
        meta = read_meta(dst) or {}
        log(f"'{dst}' is already prepared from '{source.path}' at {resolution}x{resolution}")
        return _summary(dst, meta, already=True)
    saved = _read_progress(dst, source, resolution) if plan == "resume" else None
    if saved is None:
        dst.mkdir(parents=True, exist_ok=True)
        write_json(dst / META_FILE, _start_meta(source, resolution))
        saved = {
            "fingerprint": source.fingerprint,
            "resolution": resolution,
            "chunk_size": chunk_size,
            "chunks_done": 0,
            "written": 0,
            "skipped": [],
        }
    else:
        done = saved["written"] + len(saved["skipped"])
        log(f"resuming the conversion into '{dst}' after {done:,} of {source.count:,} images")
    _convert(source, dst, resolution, workers, saved, progress)
    return _finish(source, dst, resolution, saved, log)


def _convert(
    source: Source,
    dst: Path,
    resolution: int,
    workers: int,
    saved: dict[str, Any],
    progress: bool,
) -> None:
    """Decode the chunks not done yet into the maps, recording progress after each."""
    size = saved["chunk_size"]
    total_chunks = -(-source.count // size)
    if saved["chunks_done"] >= total_chunks:
        return
    item = image_bytes(resolution)
    _ensure_size(dst / IMAGES_FILE, source.count * item)
    _ensure_size(dst / PARTIAL_LABELS_FILE, source.count * 8)
    write_json(dst / PROGRESS_FILE, saved)
    bar = tqdm(
        total=source.count,
        initial=min(saved["chunks_done"] * size, source.count),
        desc="preparing",
        unit="img",
        disable=not progress,
    )
    chunks = source.chunks(resolution, size, saved["chunks_done"], workers)
    with bar, closing(chunks):  # closing stops the worker pool, also on Ctrl-C
        for chunk_images, chunk_labels, skipped in chunks:
            _write_chunk(dst, saved["written"], chunk_images, chunk_labels)
            saved["written"] += len(chunk_labels)
            saved["skipped"].extend([name, why] for name, why in skipped)
            saved["chunks_done"] += 1
            write_json(dst / PROGRESS_FILE, saved)
            bar.update(len(chunk_labels) + len(skipped))


def _finish(
    source: Source, dst: Path, resolution: int, saved: dict[str, Any], log: Callable[[str], None]
) -> dict[str, Any]:
    """Relabel, write labels.npy, skipped.txt and the final meta.json; remove scratch files."""
    count, skipped = saved["written"], saved["skipped"]
    if count == 0:
        name, why = skipped[0]
        raise SaganError(
            f"none of the {len(skipped):,} image files under '{source.path}' could be decoded "
            f"(e.g. {name!r}: {why}): check the files or pass another SRC"
        )
    raw = np.fromfile(dst / PARTIAL_LABELS_FILE, dtype=np.int64, count=count)
    classes, labels = source.classes, raw
    if source.drop_empty_classes:
        used = np.unique(raw)
        if len(used) < len(source.classes):
            empty = [c for i, c in enumerate(source.classes) if i not in set(used.tolist())]
            log(
                f"warning: dropped {len(empty)} class folder(s) with no readable images "
                f"(e.g. {empty[0]!r})"
            )
        classes = [source.classes[i] for i in used.tolist()]
        labels = np.searchsorted(used, raw).astype(np.int64)
    np.save(dst / LABELS_FILE, labels)
    text = "".join(f"{name}\t{why}\n" for name, why in skipped)
    (dst / SKIPPED_FILE).write_text(text)
    with (dst / IMAGES_FILE).open("r+b") as handle:
        handle.truncate(count * image_bytes(resolution))
        os.fsync(handle.fileno())
    if skipped:
        name, why = skipped[0]
        what = (
            f"{len(skipped):,} files that are not readable images"
            if len(skipped) != 1
            else "1 file that is not a readable image"
        )
        log(
            f"warning: skipped {what} (e.g. {name!r}: {why}); all are listed in "
            f"'{dst / SKIPPED_FILE}'"
        )
    meta = _start_meta(source, resolution)
    meta.update(
        complete=True,
        count=count,
        num_classes=len(classes),
        classes=classes,
        skipped=len(skipped),
    )
    write_json(dst / META_FILE, meta)
    _remove_scratch(dst)
    return _summary(dst, meta, already=False)


def _remove_scratch(dst: Path) -> None:
    for scratch in (PROGRESS_FILE, PARTIAL_LABELS_FILE):
        (dst / scratch).unlink(missing_ok=True)
