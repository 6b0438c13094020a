"""Where evaluation images come from: a generator (on the fly) or a dataset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from sagan.errors import SaganError
from sagan.metrics.digits import quantize


def uniform_class_counts(n: int, num_classes: int) -> list[int]:
    """n samples over the classes as evenly as possible (the first n % K get one more)."""
    base, extra = divmod(n, num_classes)
    return [base + (1 if c < extra else 0) for c in range(num_classes)]


def generator_batches(
    G: nn.Module, n: int, batch: int, seed: int, progress: bool = True
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """uint8 samples of G, classes uniform and in class order (see ``class_batches``)."""
    k = G.cfg.num_classes
    counts = dict(enumerate(uniform_class_counts(n, k))) if k > 0 else None
    return class_batches(G, counts, n, batch, seed, progress)


@torch.no_grad()
def class_batches(
    G: nn.Module,
    counts: dict[int, int] | None,
    n: int,
    batch: int,
    seed: int,
    progress: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """uint8 samples of G, ``counts[c]`` of each class c in class order (None: n
    unconditional samples), quantised like saved PNGs.

    z comes from a generator seeded with ``seed``, so the same seed gives the same samples.
    G is put in eval mode for the pass and restored afterwards.
    """
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    labels = None
    if counts is not None:
        labels = torch.cat([torch.full((c,), k) for k, c in sorted(counts.items())])
        n = len(labels)
    was_training = G.training
    G.eval()
    bar = tqdm(total=n, desc="samples", unit="img", leave=False, disable=not progress)
    try:
        for lo in range(0, n, batch):
            m = min(batch, n - lo)
            z = torch.randn(m, G.cfg.z_dim, generator=gen).to(device)
            y = None if labels is None else labels[lo : lo + m]
            images = quantize(G(z, None if y is None else y.to(device)))
            bar.update(m)
            yield images, y
    finally:
        bar.close()
        G.train(was_training)


def dataset_batches(
    dataset: Dataset,
    batch: int,
    sort_by_class: bool,
    workers: int = 0,
    progress: bool = True,
    desc: str = "real",
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """uint8 images of a dataset, optionally sorted by class, with their labels."""
    indices = list(range(len(dataset)))
    labels = getattr(dataset, "labels", None)
    if sort_by_class and labels is not None:
        labels_t = torch.as_tensor(labels)
        indices = torch.argsort(labels_t, stable=True).tolist()
    loader = DataLoader(Subset(dataset, indices), batch_size=batch, num_workers=workers)
    for images, y, _skipped in tqdm(
        loader, desc=desc, unit="batch", leave=False, disable=not progress
    ):
        yield images, (y if labels is not None else None)


class FlatImageFolder(Dataset):
    """Every image file directly in a folder, without labels (e.g. a folder of samples)."""

    def __init__(self, root: str | Path, resolution: int | None = None) -> None:
        from sagan.data.folder import IMAGE_EXTENSIONS

        self.root = Path(root)
        self.files = sorted(p for p in self.root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.files:
            raise SaganError(f"no images in '{root}': pass a folder of .png/.jpg files")
        self.resolution = resolution or self.first_image_size(self.root)

    @staticmethod
    def first_image_size(root: Path, recursive: bool = False) -> int:
        """The shorter side of the first image found, the default comparison size."""
        from PIL import Image

        from sagan.data.folder import IMAGE_EXTENSIONS

        files = sorted(root.rglob("*") if recursive else root.iterdir())
        for p in files:
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                try:
                    with Image.open(p) as im:
                        return min(im.size)
                except OSError:
                    continue
        raise SaganError(f"no readable images in '{root}'")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        from sagan.data.folder import decode_image_file

        return decode_image_file(self.files[i], self.resolution), 0, 0
