"""``sagan prepare``: decode an image folder or CIFAR-10 once into a prepared dataset.

The prepared folder holds every image already resized to the training resolution in one
memory-mapped uint8 array, so training reads it at disk speed instead of decoding JPEGs.
Train on it with ``sagan train --data DST``. An interrupted run continues where it
stopped when started again with the same SRC and DST.
"""

from __future__ import annotations

import argparse
import os

from sagan.errors import SaganError, TrainingInterrupted


def default_workers() -> int:
    """Decoding processes when --workers is not given: min(8, CPU count)."""
    return min(8, os.cpu_count() or 1)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``prepare`` and its options."""
    p = sub.add_parser(
        "prepare",
        help="convert an image folder or CIFAR-10 into a fast prepared dataset",
        description=__doc__,
    )
    p.add_argument("src", metavar="SRC", help="image folder (one subfolder per class) or CIFAR-10")
    p.add_argument("dst", metavar="DST", help="new or empty output folder (or one to resume)")
    p.add_argument(
        "--resolution",
        type=int,
        default=128,
        help="image side in pixels; must match the preset you train (default 128)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="decoding processes, 0 = in this process (default min(8, CPU count))",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Convert (or finish converting) SRC into DST and print a one-line summary."""
    from sagan.data.prepare import human_size, prepare_dataset

    if args.resolution < 4:
        raise SaganError(f"--resolution must be at least 4, got {args.resolution}")
    try:
        summary = prepare_dataset(args.src, args.dst, args.resolution, args.workers)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"conversion interrupted; run `sagan prepare {args.src} {args.dst}` again "
            "to continue where it stopped"
        ) from None
    state = "" if summary["already_prepared"] else "prepared "
    size = summary["resolution"]
    print(
        f"{state}{summary['path']}: {summary['count']:,} images, "
        f"{summary['num_classes']} classes, {size}x{size}, {summary['skipped']:,} skipped, "
        f"{human_size(summary['bytes'])} on disk"
    )
