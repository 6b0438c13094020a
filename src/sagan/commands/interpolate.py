"""``sagan interpolate``: spherical interpolation in z at a fixed class and, given two
classes, linear interpolation between their conditioning at a fixed z; a GIF or a strip."""

from __future__ import annotations

import argparse

from sagan.commands.common import SOURCE_HELP, int_list
from sagan.commands.preflight import check_output_file
from sagan.errors import SaganError

SUFFIXES = (".gif", ".png")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``interpolate`` and its options."""
    p = sub.add_parser(
        "interpolate",
        help="interpolate in z and between classes (GIF or PNG strip)",
        description=__doc__,
    )
    p.add_argument("--ckpt", required=True, metavar="SOURCE", help=SOURCE_HELP)
    p.add_argument("--out", required=True, help="FILE.gif (animated) or FILE.png (a strip)")
    p.add_argument(
        "--classes",
        type=int_list,
        help="A or A,B: the class of the z walk, and the class walk A -> B (default 0,1)",
    )
    p.add_argument("--steps", type=int, default=16, help="frames per walk (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the two z end points (default 0)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Check the output, load G, make the frames and save them."""
    from sagan.interpolation import frame_times, interpolation_frames, save_interpolation
    from sagan.pretrained import load
    from sagan.training.state import resolve_device

    frame_times(args.steps)  # checks --steps
    if args.classes is not None and not 1 <= len(args.classes) <= 2:
        raise SaganError(f"--classes takes one or two classes (A or A,B), got {len(args.classes)}")
    out = check_output_file(args.out, SUFFIXES, "an animated GIF or a PNG strip")
    G = load(args.ckpt, device=resolve_device(args.device)).G
    classes = pick_classes(args.classes, G.cfg.num_classes)
    frames, rows = interpolation_frames(G, classes, args.steps, args.seed)
    save_interpolation(frames, out)
    print(f"wrote {out} ({'; '.join(rows)}; {args.steps} steps)")


def pick_classes(classes: tuple[int, ...] | None, k: int) -> list[int]:
    """The classes of the walks: as given (checked), or 0 and 1; none when unconditional."""
    if k == 0:
        if classes:
            raise SaganError("--classes needs a class-conditional model; this one is unconditional")
        return [0]
    chosen = list(classes) if classes else list(range(min(k, 2)))
    bad = [c for c in chosen if not 0 <= c < k]
    if bad:
        raise SaganError(f"class {bad[0]} is out of range: this model has classes 0..{k - 1}")
    return chosen
