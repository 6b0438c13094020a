"""``sagan info``: parameter counts, attention placements and resolution of a preset."""

from __future__ import annotations

import argparse
import json

from sagan.commands.common import int_list, model_config
from sagan.models import Discriminator, Generator
from sagan.presets import PRESETS


def trainable(module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``info`` and its options."""
    p = sub.add_parser(
        "info", help="print a preset's parameter counts as JSON", description=__doc__
    )
    p.add_argument("--preset", default="digits", choices=sorted(PRESETS))
    p.add_argument(
        "--num-classes", type=int, help="override the preset's class count (0 = unconditional)"
    )
    p.add_argument("--attn-g", type=int_list, metavar="SIZES", help="G attention sizes, as train's")
    p.add_argument("--attn-d", type=int_list, metavar="SIZES", help="D attention sizes")
    p.add_argument("--attn-variant", choices=("official", "paper"), help="as train's")
    p.add_argument(
        "--residual-instead-of-attention",
        action="store_true",
        default=None,
        help="a residual block with attention's parameter budget (Table 1)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Build both networks and print their description."""
    cfg = model_config(
        args.preset,
        args.num_classes,
        attn_g=args.attn_g,
        attn_d=args.attn_d,
        attn_variant=args.attn_variant,
        residual_instead_of_attention=args.residual_instead_of_attention,
    )
    G, D = Generator(cfg), Discriminator(cfg)
    print(
        json.dumps(
            {
                "preset": args.preset,
                "resolution": cfg.resolution,
                "num_classes": cfg.num_classes,
                "g_params": trainable(G),
                "d_params": trainable(D),
                "attn_g": list(cfg.attn_g),
                "attn_d": list(cfg.attn_d),
                "attn_variant": cfg.attn_variant,
                "residual_instead_of_attention": cfg.residual_instead_of_attention,
                "g_feature_sizes": list(cfg.g_sizes),
                "d_feature_sizes": list(cfg.d_sizes),
            },
            indent=2,
        )
    )
