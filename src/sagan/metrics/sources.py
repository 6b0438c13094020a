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
    G: nn.Module,
    n: int,
    batch: int,
    seed: int,
    progress: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """uint8 samples of G, classes uniform and in class order (see ``class_batches``)."""
    k = G.cfg.num_classes
    counts = dict(enumerate(uniform_class_counts(n, k))) if k > 0 else None
    return class_batches(G, counts, n, batch, seed, progress, rank, world_size)


@torch.no_grad()
def class_batches(
    G: nn.Module,
    counts: dict[int, int] | None,
    n: int,
    batch: int,
    seed: int,
    progress: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """uint8 samples of G, ``counts[c]`` of each class c in class order (None: n
    unconditional samples), quantised like saved PNGs.

    z comes from a generator seeded with ``seed``, so the same seed gives the same samples.
    G is put in eval mode for the pass and restored afterwards. With ``world_size`` > 1
    (inside a process group) the batches are generated round-robin by the ranks and
    gathered: every rank must iterate, rank 0 receives the same stream as one process.
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
        starts = list(range(0, n, batch))
        for first in range(0, len(starts), world_size):
            group = starts[first : first + world_size]
            zs = [torch.randn(min(batch, n - lo), G.cfg.z_dim, generator=gen) for lo in group]
            ys = [None if labels is None else labels[lo : lo + len(z)] for lo, z in zip(group, zs)]
            if world_size == 1:
                y = ys[0]
                images = quantize(G(zs[0].to(device), None if y is None else y.to(device)))
                out = [images]
            else:
                out = _generate_round_robin(G, zs, ys, rank, world_size, batch, device)
            for images, y in zip(out, ys):
                bar.update(len(images))
                yield images, y
    finally:
        bar.close()
        G.train(was_training)


def _generate_round_robin(
    G: nn.Module,
    zs: list[torch.Tensor],
    ys: list[torch.Tensor | None],
    rank: int,
    world_size: int,
    batch: int,
    device: torch.device,
) -> list[torch.Tensor]:
    """Rank r renders batch r of the group; an all-gather hands every batch to every rank."""
    import torch.distributed as dist

    res = G.cfg.resolution
    mine = torch.zeros(batch, 3, res, res, dtype=torch.uint8, device=device)
    if rank < len(zs):
        y = ys[rank]
        mine[: len(zs[rank])] = quantize(
            G(zs[rank].to(device), None if y is None else y.to(device))
        ).to(device)
    parts = [torch.empty_like(mine) for _ in range(world_size)]
    dist.all_gather(parts, mine)
    return [parts[i][: len(z)] for i, z in enumerate(zs)]


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
