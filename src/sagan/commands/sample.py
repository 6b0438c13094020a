"""``sagan sample``: a grid of samples from a checkpoint, one row per class."""

from __future__ import annotations

import argparse

import torch

from sagan.commands.common import (
    check_output_file,
    generator_from_checkpoint,
    int_list,
    resolve_checkpoint,
)
from sagan.errors import SaganError
from sagan.models.generator import truncated_normal
from sagan.viz.grid import grid_classes, render, save_grid

GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``sample`` and its options."""
    p = sub.add_parser("sample", help="write a sample grid from a checkpoint", description=__doc__)
    p.add_argument(
        "--ckpt", required=True, help="checkpoint file, or a run folder (newest checkpoint)"
    )
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument(
        "--classes", type=int_list, help="comma-separated class ids (default: up to 10 spread out)"
    )
    p.add_argument("--n", type=int, default=8, help="samples per class (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed for z (default 0)")
    p.add_argument("--truncation", type=float, help="redraw |z| entries above this threshold")
    p.add_argument(
        "--no-ema", action="store_true", help="use G's raw weights even if an EMA exists"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Load G, draw the grid and save it."""
    if args.n <= 0:
        raise SaganError(f"--n must be positive, got {args.n}")
    if args.truncation is not None and not args.truncation > 0:
        raise SaganError(f"--truncation must be positive, got {args.truncation}")
    check_output_file(args.out, GRID_SUFFIXES, "an image file")
    _, ckpt = resolve_checkpoint(args.ckpt)
    G = generator_from_checkpoint(ckpt, use_ema=not args.no_ema)
    k = G.cfg.num_classes
    gen = torch.Generator().manual_seed(args.seed)
    if k == 0:
        y = None
        z = truncated_normal((args.n * args.n, G.cfg.z_dim), args.truncation, gen)
        columns = args.n
    else:
        classes = list(args.classes) if args.classes else grid_classes(k)
        bad = [c for c in classes if not 0 <= c < k]
        if bad:
            raise SaganError(f"class {bad[0]} is out of range: this model has classes 0..{k - 1}")
        y = torch.tensor(classes).repeat_interleave(args.n)
        z = truncated_normal((len(y), G.cfg.z_dim), args.truncation, gen)
        columns = args.n
    save_grid(render(G, z, y), args.out, columns=columns)
    print(f"wrote {args.out}")
