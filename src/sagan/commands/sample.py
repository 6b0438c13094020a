"""``sagan sample``: a grid of samples (one row per class), or ``--images N`` single PNGs
in ``DIR/<class name>/<index>.png`` for other tools (resumable, with an optional .npz)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sagan.commands.common import SOURCE_HELP, int_list
from sagan.commands.preflight import check_output_file, check_output_folder
from sagan.errors import SaganError
from sagan.models.generator import truncated_normal
from sagan.viz.grid import grid_classes, render, save_grid

GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``sample`` and its options."""
    p = sub.add_parser(
        "sample", help="write a sample grid, or a folder of samples", description=__doc__
    )
    p.add_argument("--ckpt", required=True, metavar="SOURCE", help=SOURCE_HELP)
    p.add_argument("--out", required=True, help="output image (a grid), or with --images a folder")
    p.add_argument("--images", type=int, help="write this many single PNGs into the folder --out")
    p.add_argument(
        "--classes",
        type=int_list,
        help="comma-separated class ids (default: grid up to 10 spread out; --images all)",
    )
    p.add_argument("--n", type=int, default=8, help="grid: samples per class (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed for z (default 0)")
    p.add_argument("--truncation", type=float, help="redraw |z| entries above this threshold")
    p.add_argument("--batch", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--npz", metavar="FILE", help="with --images: also one .npz of all images")
    p.add_argument(
        "--no-ema", action="store_true", help="use G's raw weights even if an EMA exists"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Check the numbers and the outputs, load G, then draw the grid or fill the folder."""
    from sagan.pretrained import load
    from sagan.training.state import resolve_device

    check_numbers(args)
    if args.images is None:
        if args.npz:
            raise SaganError("--npz needs --images: it holds the single images of a folder")
        check_output_file(args.out, GRID_SUFFIXES, "an image file; or pass --images N")
    else:
        if Path(args.out).suffix.lower() in GRID_SUFFIXES:
            raise SaganError(
                f"with --images, --out is a folder for the PNGs, not the file name '{args.out}'"
            )
        check_output_folder(args.out)
        if args.npz:
            check_output_file(args.npz, (".npz",), "a NumPy archive", "--npz")
    loaded = load(args.ckpt, device=resolve_device(args.device), use_ema=not args.no_ema)
    G = loaded.G
    classes = check_classes(args.classes, G.cfg.num_classes)
    if args.images is None:
        write_grid(G, classes, args)
    else:
        write_folder(loaded, classes, args)


def check_numbers(args: argparse.Namespace) -> None:
    """--n, --images and --batch positive, --truncation positive when given."""
    for flag in ("n", "images", "batch"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise SaganError(f"--{flag} must be positive, got {value}")
    if args.truncation is not None and not args.truncation > 0:
        raise SaganError(f"--truncation must be positive, got {args.truncation}")


def check_classes(classes: tuple[int, ...] | None, k: int) -> list[int] | None:
    """The classes asked for, each in range; None when none were asked for."""
    if classes and k == 0:
        raise SaganError("--classes needs a class-conditional model; this one is unconditional")
    bad = [c for c in classes or () if not 0 <= c < k]
    if bad:
        raise SaganError(f"class {bad[0]} is out of range: this model has classes 0..{k - 1}")
    return list(classes) if classes else None


def write_grid(G, classes: list[int] | None, args: argparse.Namespace) -> None:
    """The grid: one row of --n samples per class (n x n samples when unconditional)."""
    k = G.cfg.num_classes
    gen = torch.Generator().manual_seed(args.seed)
    if k == 0:
        y = None
        z = truncated_normal((args.n * args.n, G.cfg.z_dim), args.truncation, gen)
    else:
        y = torch.tensor(classes or grid_classes(k)).repeat_interleave(args.n)
        z = truncated_normal((len(y), G.cfg.z_dim), args.truncation, gen)
    save_grid(render(G, z, y, batch=args.batch), args.out, columns=args.n)
    print(f"wrote {args.out}")


def write_folder(loaded, classes: list[int] | None, args: argparse.Namespace) -> None:
    """--images PNGs under --out (only the missing ones), then the optional .npz."""
    from sagan.sampling import (
        SamplePlan,
        check_sample_folder,
        folder_names,
        write_npz,
        write_sample_folder,
    )

    k = loaded.G.cfg.num_classes
    plan = SamplePlan(
        n=args.images,
        classes=None if k == 0 else tuple(classes or range(k)),
        folders=folder_names(loaded.info.get("class_names"), k),
        seed=args.seed,
        truncation=args.truncation,
        batch=args.batch,
        source=str(loaded.path.resolve()),  # the checkpoint file, export or Hub snapshot
        weights=str(loaded.info.get("weights")),
    )
    root = Path(args.out).expanduser()
    check_sample_folder(root, plan)
    written = write_sample_folder(loaded.G, plan, root)
    print(f"wrote {written} images to {root} ({plan.n - written} were there already)")
    if args.npz:
        write_npz(plan, root, Path(args.npz).expanduser())
        print(f"wrote {args.npz}")
