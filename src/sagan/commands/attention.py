"""``sagan attention``: where attention looks, as in the paper's Figures 1 and 5.

One image (generated, or real for D) with coloured query points; for each query its
attention map over the image and an arrow to the most-attended region. The raw maps go
to a .npz file next to the figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sagan.commands.common import SOURCE_HELP, int_list
from sagan.commands.preflight import check_output_file
from sagan.errors import SaganError

FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".eps")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``attention`` and its options."""
    p = sub.add_parser("attention", help="draw attention maps of a checkpoint", description=__doc__)
    p.add_argument(
        "--ckpt", required=True, metavar="SOURCE", help=f"{SOURCE_HELP} (D: a checkpoint or run)"
    )
    p.add_argument(
        "--out", required=True, help="output PNG (the maps go to the same name with .npz)"
    )
    p.add_argument(
        "--class", dest="cls", type=int, default=0, help="class of the image (default 0)"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of z, or index of the real image (default 0)"
    )
    p.add_argument("--queries", default="auto", help="'auto' or pixel points 'x1,y1;x2,y2'")
    p.add_argument("--n-queries", type=int, default=4, help="queries picked by auto (default 4)")
    p.add_argument("--layer", help="attention layer, e.g. feat32 or 32 (default: the last one)")
    p.add_argument(
        "--network", choices=("g", "d"), default="g", help="G's attention or D's (default g)"
    )
    p.add_argument(
        "--real", help="with --network d: show D a real image from this data instead of a sample"
    )
    p.add_argument(
        "--grid", action="store_true", help="one row per class in --classes, or per seed in --seeds"
    )
    p.add_argument("--classes", type=int_list, help="with --grid: classes, e.g. 0,3,7")
    p.add_argument("--seeds", type=int_list, help="with --grid: seeds, e.g. 0,1,2")
    p.set_defaults(run=run)


def parse_points(text: str) -> list[tuple[float, float]]:
    """'x1,y1;x2,y2' -> [(x1, y1), (x2, y2)] in image pixels."""
    try:
        points = [
            tuple(float(v) for v in part.split(",")) for part in text.split(";") if part.strip()
        ]
    except ValueError:
        points = []
    if not points or any(len(p) != 2 for p in points):
        raise SaganError(f"--queries must be 'auto' or points like '8,4;2,12', got {text!r}")
    return points  # type: ignore[return-value]


def run(args: argparse.Namespace) -> None:
    """Compute the maps, draw the figure and save the raw maps."""
    from sagan.pretrained import load
    from sagan.viz.attention import attention_grid_figure, save_figure

    out = check_output_file(args.out, FIGURE_SUFFIXES, "a figure")
    check_output_file(out.with_suffix(".npz"), (".npz",), "the raw maps")
    loaded = load(args.ckpt)
    G = loaded.G
    D = loaded.discriminator() if args.network == "d" else None
    net = G if D is None else D
    names = sorted(net.attn, key=lambda n: int(n[4:]))
    if not names:
        raise SaganError(f"this {args.network.upper()} has no attention layer")
    layer = args.layer or names[-1]
    if layer.isdigit():  # --layer 32 means the 32x32 map, feat32
        layer = f"feat{layer}"
    if layer not in names:
        raise SaganError(
            f"no attention layer {layer!r} in {args.network.upper()}: choose from {', '.join(names)}"
        )
    k = G.cfg.num_classes
    rows_spec = (
        [(c, args.seed) for c in (args.classes or [args.cls])]
        if args.grid and args.classes
        else None
    )
    if args.grid and args.seeds:
        rows_spec = [(args.cls, s) for s in args.seeds]
    rows_spec = rows_spec or [(args.cls, args.seed)]
    if k and any(not 0 <= c < k for c, _ in rows_spec):
        raise SaganError(f"class out of range: this model has classes 0..{k - 1}")
    rows, raw = [], {}
    for i, (c, seed) in enumerate(rows_spec):
        image, beta = image_and_map(G, D, layer, c, seed, args.real)
        queries = pick(beta, args, image.shape[-1])
        label = f"class {c}, seed {seed}" if len(rows_spec) > 1 else ""
        rows.append((image, beta, queries, label))
        raw[f"image_{i}"] = image.numpy()
        raw[f"map_{i}"] = beta.numpy()
        raw[f"queries_{i}"] = np.asarray(queries)
        raw[f"class_seed_{i}"] = np.asarray([c, seed])
    title = f"{args.network.upper()} {layer} ({'real' if args.real and D is not None else 'generated'} image)"
    fig = attention_grid_figure(rows, title)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out)
    np.savez(out.with_suffix(".npz"), layer=layer, network=args.network, **raw)
    print(f"wrote {out} and {out.with_suffix('.npz')}")


@torch.no_grad()
def image_and_map(
    G, D, layer: str, cls: int, seed: int, real: str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One image [3, R, R] in [-1, 1] and its attention map [N, N_keys] at ``layer``."""
    from sagan.viz.attention import image_and_maps

    image = None
    if D is not None and real:
        from sagan.data import load_dataset

        data = load_dataset(real, G.cfg.resolution)
        if G.cfg.num_classes and data.num_classes != G.cfg.num_classes:
            raise SaganError(
                f"--real '{real}' has {data.num_classes} classes but the model has "
                f"{G.cfg.num_classes}: pass the data it was trained on"
            )
        img_u8, label, _ = data[seed % len(data)]
        image = img_u8.float().div(127.5).sub(1.0)
        cls = label if G.cfg.num_classes else cls
    image, maps = image_and_maps(G, D, cls, seed, image=image)
    if layer not in maps:
        raise SaganError(
            f"layer {layer} returns no map (a residual block replaces attention there)"
        )
    return image, maps[layer]


def pick(beta: torch.Tensor, args: argparse.Namespace, size: int) -> list[int]:
    """Query indices: auto, or the given pixel points mapped to the query grid."""
    from sagan.viz.attention import pick_queries, pixel_query

    if args.queries == "auto":
        if args.n_queries <= 0:
            raise SaganError(f"--n-queries must be positive, got {args.n_queries}")
        return pick_queries(beta, args.n_queries)
    points = parse_points(args.queries)
    bad = [p for p in points if not (0 <= p[0] < size and 0 <= p[1] < size)]
    if bad:
        raise SaganError(f"query point {bad[0]} is outside the {size}x{size} image")
    return [pixel_query(x, y, beta.shape[0], size) for x, y in points]
