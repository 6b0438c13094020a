"""Folders of samples for other tools: ``DIR/<class name>/<index>.png`` and one ``.npz``.

Sample i has its own z (from a seed made of ``seed`` and i) and its own class
(``classes[i % len(classes)]``, so classes are uniform), so any subset of indices can be
made alone: a rerun makes only the missing files and writes nothing that exists. Images
are made in fixed chunks of ``batch`` indices (a chunk with a missing file is made whole),
so a resumed folder holds the same pixels as one made in a single run.

clean-fid, torch-fidelity (``--samples-find-deep``) and ``sagan eval --fake`` read such a
folder; the ``.npz`` (``x``: uint8 [N, H, W, 3], ``y``: labels [N]) is the format of
BigGAN's and StudioGAN's evaluation scripts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from sagan.errors import SaganError
from sagan.export import write_atomically
from sagan.models.generator import truncated_normal

MANIFEST = ".sagan-samples.json"
INDEX_DIGITS = 6


@dataclass(frozen=True)
class SamplePlan:
    """What a sample folder holds; all but ``n`` must match when a folder resumes."""

    n: int
    classes: tuple[int, ...] | None  # the classes used, in turn; None: unconditional
    folders: tuple[str, ...]  # a folder name for every class of the model
    seed: int
    truncation: float | None
    batch: int
    source: str  # the model: its checkpoint file, exported folder or Hub snapshot
    weights: str  # which of its weights: 'ema' or 'generator'

    def path(self, root: Path, i: int) -> Path:
        """Where sample i lives."""
        name = f"{i:0{INDEX_DIGITS}d}.png"
        return root / name if self.classes is None else root / self.folders[self.label(i)] / name

    def label(self, i: int) -> int:
        """The class of sample i."""
        assert self.classes is not None
        return self.classes[i % len(self.classes)]


def index_seed(seed: int, i: int) -> int:
    """The seed of sample i's z: a hash of (seed, i), so every index has its own stream."""
    state = np.random.SeedSequence([seed, i]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 32 | int(state[1])


def index_latents(indices: range | list[int], z_dim: int, seed: int, truncation: float | None):
    """z [len(indices), z_dim] of the given sample indices (optionally truncated)."""
    rows = [
        truncated_normal((1, z_dim), truncation, torch.Generator().manual_seed(index_seed(seed, i)))
        for i in indices
    ]
    return torch.cat(rows)


def folder_names(names: list[str] | None, num_classes: int) -> tuple[str, ...]:
    """A distinct, path-safe folder name per class: its name, or its zero-padded index."""
    width = len(str(max(num_classes - 1, 0)))
    out: list[str] = []
    for c in range(num_classes):
        name = str(names[c]) if names and len(names) == num_classes else f"{c:0{width}d}"
        name = name.replace("/", "_").replace("\\", "_").strip() or f"{c:0{width}d}"
        name = f"_{name}" if name.startswith(".") else name
        out.append(name if name not in out else f"{name}_{c}")
    return tuple(out)


def check_sample_folder(root: Path, plan: SamplePlan) -> None:
    """``root`` is new, empty, or an earlier folder of the same plan (more images allowed)."""
    if root.exists() and not root.is_dir():
        raise SaganError(f"--out '{root}' is a file: pass a folder for the images")
    if not root.is_dir() or not any(root.iterdir()):
        return
    try:
        earlier = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        raise SaganError(
            f"--out '{root}' holds other files, not samples made by sagan: pass a new or empty folder"
        ) from None
    mine = _manifest(plan)
    for key, value in mine.items():
        if earlier.get(key) != value:
            raise SaganError(
                f"--out '{root}' holds samples with another {key} ({earlier.get(key)!r}, "
                f"not {value!r}): pass a new folder, or the same options to resume"
            )


def _manifest(plan: SamplePlan) -> dict[str, Any]:
    """What a folder records of its plan: all of it but ``n``, which may grow."""
    d = asdict(plan)
    del d["n"]
    d["classes"] = None if plan.classes is None else list(plan.classes)
    d["folders"] = list(plan.folders)
    return {"format": "sagan-samples", **d}


@torch.no_grad()
def write_sample_folder(G: nn.Module, plan: SamplePlan, root: Path, progress: bool = True) -> int:
    """Make every missing sample PNG of ``plan`` under ``root``; returns how many were written."""
    from PIL import Image

    from sagan.metrics.digits import quantize

    root.mkdir(parents=True, exist_ok=True)
    for stale in root.rglob(".tmp-*.png"):  # left by a run killed mid-write
        stale.unlink(missing_ok=True)
    if not (root / MANIFEST).is_file():  # an earlier one matches (check_sample_folder)
        write_atomically(root / MANIFEST, (json.dumps(_manifest(plan), indent=2) + "\n").encode())
    device = next(G.parameters()).device
    existing = sum(plan.path(root, i).exists() for i in range(plan.n))
    written = 0
    was_training = G.training
    G.eval()
    bar = tqdm(total=plan.n, initial=existing, unit="img", desc="samples", disable=not progress)
    try:
        for chunk, missing in _chunks_to_make(plan, root):
            z = index_latents(chunk, G.cfg.z_dim, plan.seed, plan.truncation).to(device)
            y = None if plan.classes is None else torch.tensor([plan.label(i) for i in chunk])
            images = quantize(G(z, None if y is None else y.to(device))).cpu()  # [NCHW] uint8
            for i in missing:
                path = plan.path(root, i)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".tmp-{path.name}")
                Image.fromarray(images[i - chunk.start].permute(1, 2, 0).numpy()).save(tmp, "PNG")
                os.replace(tmp, path)
                written += 1
                bar.update(1)
    finally:
        bar.close()
        G.train(was_training)
    return written


def _chunks_to_make(plan: SamplePlan, root: Path) -> Iterator[tuple[range, list[int]]]:
    """The fixed chunks of indices that have missing files, with those indices."""
    for start in range(0, plan.n, plan.batch):
        chunk = range(start, min(start + plan.batch, plan.n))
        missing = [i for i in chunk if not plan.path(root, i).exists()]
        if missing:
            yield chunk, missing


def write_npz(plan: SamplePlan, root: Path, npz: Path, progress: bool = True) -> None:
    """One archive of the folder's PNGs: x uint8 [N, H, W, 3] (and y labels [N]), read back
    from the files so that it holds exactly their pixels."""
    from PIL import Image

    def read(i: int) -> np.ndarray:
        with Image.open(plan.path(root, i)) as im:
            return np.asarray(im.convert("RGB"))

    images = [
        read(i)
        for i in tqdm(range(plan.n), desc="npz", unit="img", disable=not progress, leave=False)
    ]
    arrays = {"x": np.stack(images)}  # [NHWC] uint8
    if plan.classes is not None:
        arrays["y"] = np.array([plan.label(i) for i in range(plan.n)], dtype=np.int64)
    tmp = npz.with_name(f".tmp-{npz.name}")
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, npz)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SaganError(f"cannot write --npz '{npz}': {e.strerror or e}") from None
