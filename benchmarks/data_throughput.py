"""Images/s a training DataLoader delivers from a JPEG folder and from its prepared copy.

Builds a folder of JPEGs of 256-400 pixels (or takes --src), prepares it with
``sagan prepare``'s code at --resolution, then reads each with a DataLoader set up as the
training loop sets it up (endless shuffled sampler, --batch, --workers, pin_memory only on
CUDA) and prints both rates and their ratio. The target is prepared >= 5x raw.

    python benchmarks/data_throughput.py [--src FOLDER] [--resolution 128] [--batch 64]
        [--workers 2] [--images 2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from sagan.data.folder import ImageFolderDataset
from sagan.data.prepare import human_size, prepare_dataset
from sagan.data.prepared import PreparedDataset
from sagan.data.sampler import InfiniteSampler

CLASSES = 10
WARMUP_BATCHES = 3  # worker start-up and first-touch costs are not throughput


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--src", help="an image folder to use instead of generated JPEGs")
    p.add_argument("--resolution", type=int, default=128, help="training resolution (128)")
    p.add_argument("--batch", type=int, default=64, help="DataLoader batch size (64)")
    p.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="DataLoader worker processes, also used to prepare (default min(4, CPUs))",
    )
    p.add_argument("--images", type=int, default=2000, help="JPEGs to generate (2000)")
    p.add_argument("--seconds", type=float, default=10.0, help="timed seconds per dataset (10)")
    return p.parse_args()


def make_jpegs(root: Path, count: int, seed: int = 0) -> None:
    """`count` photo-like JPEGs (smooth colour fields plus noise), 256-400 px a side."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        width, height = (int(v) for v in rng.integers(256, 401, 2))
        coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC))
        noise = rng.integers(-12, 13, (height, width, 3), dtype=np.int16)
        pixels = (smooth + noise).clip(0, 255).astype(np.uint8)
        folder = root / f"class{i % CLASSES:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=90)


def images_per_second(dataset: Dataset, batch: int, workers: int, seconds: float) -> float:
    """Images/s of a DataLoader configured like the training loop's, after a warm-up."""
    loader = DataLoader(
        dataset,
        batch_size=batch,
        sampler=InfiniteSampler(len(dataset), seed=0),
        drop_last=True,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
    )
    batches = iter(loader)
    for _ in range(WARMUP_BATCHES):
        next(batches)
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x, _, _ = next(batches)
        images += x.shape[0]
    rate = images / (time.perf_counter() - start)
    del batches  # stops the workers
    return rate


def main() -> None:
    """Build or take the folder, prepare it, time both datasets and print the ratio."""
    args = parse_args()
    torch.set_num_threads(1)  # the DataLoader workers, not intra-op threads, do the work
    with tempfile.TemporaryDirectory(prefix="sagan-bench-") as tmp:
        if args.src:
            src = Path(args.src)
            print(f"source: {src}")
        else:
            src = Path(tmp) / "jpegs"
            start = time.perf_counter()
            make_jpegs(src, args.images)
            took = time.perf_counter() - start
            print(f"source: {args.images} JPEGs of 256-400 px in {CLASSES} classes ({took:.1f} s)")
        dst = Path(tmp) / f"prepared-{args.resolution}"
        start = time.perf_counter()
        summary = prepare_dataset(src, dst, args.resolution, args.workers, progress=False)
        took = time.perf_counter() - start
        print(
            f"prepared {summary['count']} images at {args.resolution}x{args.resolution} in "
            f"{took:.1f} s with {args.workers} workers ({human_size(summary['bytes'])})"
        )
        quiet = lambda _: None  # noqa: E731
        setting = f"batch {args.batch}, {args.workers} workers, {args.seconds:g} s each"
        print(f"DataLoader: {setting}, pin_memory {torch.cuda.is_available()}")
        raw = images_per_second(
            ImageFolderDataset(src, args.resolution, quiet), args.batch, args.workers, args.seconds
        )
        print(f"raw image folder:  {raw:10,.0f} images/s")
        fast = images_per_second(
            PreparedDataset(dst, args.resolution, quiet), args.batch, args.workers, args.seconds
        )
        print(f"prepared dataset:  {fast:10,.0f} images/s")
        verdict = "met" if fast >= 5 * raw else "NOT met"
        print(f"ratio: {fast / raw:.1f}x (target >= 5x: {verdict})")


if __name__ == "__main__":
    main()
