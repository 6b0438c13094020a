"""``sagan train``: train a class-conditional SAGAN (digits by default)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from sagan.commands.common import int_list, model_config
from sagan.config import TrainConfig
from sagan.data import load_dataset
from sagan.errors import SaganError
from sagan.presets import PRESETS, get_preset

# Flags that may change when a run is resumed; everything else comes from its config.json.
RESUMABLE = (
    "steps",
    "device",
    "workers",
    "ckpt_every",
    "sample_every",
    "log_every",
    "keep_ckpts",
    "eval_every",
    "eval_samples",
    "eval_metrics",
    "inception_weights",
)
TRAIN_FIELDS = tuple(
    f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("model", "preset")
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``train`` and its options."""
    p = sub.add_parser("train", help="train a SAGAN", description=__doc__)
    _data_options(p)
    _optimisation_options(p)
    _architecture_options(p)
    _evaluation_options(p)
    _output_options(p)
    p.set_defaults(run=run)


def _data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and run")
    g.add_argument("--preset", choices=sorted(PRESETS), help="architecture (default digits)")
    g.add_argument(
        "--data",
        help="'digits' (default), an image folder with one subfolder per "
        "class, or a CIFAR-10 cifar-10-batches-py folder",
    )
    g.add_argument("--out", help="parent folder of numbered run folders (default runs)")
    g.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    g.add_argument("--unconditional", action="store_true", help="ignore labels (num_classes = 0)")


def _optimisation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimisation (defaults: the official code's TTUR)")
    g.add_argument("--steps", type=int, help="G updates in total")
    g.add_argument("--batch", type=int, help="images per D and per G step")
    g.add_argument("--n-dis", type=int, help="D steps per G step (default 1; baseline 5)")
    g.add_argument("--lr-g", type=float, help="G learning rate (default 1e-4)")
    g.add_argument("--lr-d", type=float, help="D learning rate (default 4e-4)")
    g.add_argument("--beta1", type=float, help="Adam beta1 (default 0)")
    g.add_argument(
        "--beta2",
        type=float,
        help="Adam beta2 (default 0.999 as in the official code; the paper says 0.9)",
    )
    g.add_argument("--ema", action="store_true", default=None, help="keep an EMA of G (off)")
    g.add_argument("--ema-decay", type=float, help="EMA decay (default 0.999)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto")
    g.add_argument("--workers", type=int, help="data-loading processes (default 0)")


def _architecture_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("architecture")
    g.add_argument("--sn", choices=("both", "d", "g", "none"), help="spectral norm (default both)")
    g.add_argument(
        "--attn-g",
        type=int_list,
        metavar="SIZES",
        help="G attention sizes, e.g. 32 or 16,32; '' for none",
    )
    g.add_argument("--attn-d", type=int_list, metavar="SIZES", help="D attention sizes")
    g.add_argument(
        "--attn-variant",
        choices=("official", "paper"),
        help="pooled C/2 values (official, default) or full-resolution C/8 (paper)",
    )
    g.add_argument(
        "--residual-instead-of-attention",
        action="store_true",
        default=None,
        help="a residual block with attention's parameter budget (Table 1)",
    )


def _evaluation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("evaluation during training")
    g.add_argument("--eval-every", type=int, help="steps between evaluations (default 0: off)")
    g.add_argument("--eval-samples", type=int, help="samples per evaluation (default 5000)")
    g.add_argument(
        "--eval-metrics",
        help="e.g. is,fid,kid (default: fid,class_accuracy on digits, else is,fid)",
    )
    g.add_argument(
        "--extractor",
        choices=("auto", "inception", "digits"),
        help="feature network (default auto)",
    )
    g.add_argument("--inception-weights", metavar="FILE", help="Inception weights file for IS/FID")


def _output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("outputs")
    g.add_argument(
        "--no-tensorboard",
        dest="tensorboard",
        action="store_false",
        default=None,
        help="write no TensorBoard event files",
    )
    g.add_argument("--ckpt-every", type=int, help="steps between checkpoints")
    g.add_argument("--keep-ckpts", type=int, help="checkpoints kept (default 3)")
    g.add_argument("--sample-every", type=int, help="steps between sample grids")
    g.add_argument("--log-every", type=int, help="steps between stats.jsonl rows (default 10)")


def resumed_config(args: argparse.Namespace) -> TrainConfig:
    """The run's own config, with only the RESUMABLE flags changed."""
    path = Path(args.resume) / "config.json"
    if not path.is_file():
        raise SaganError(
            f"'{args.resume}' is not a run folder (no config.json): pass a runs/NNNNN-... folder"
        )
    fixed = [
        k
        for k, v in vars(args).items()
        if v not in (None, False) and k not in RESUMABLE + ("resume", "run", "command", "debug")
    ]
    if fixed:
        raise SaganError(
            f"--resume uses the run's own settings; drop --{fixed[0].replace('_', '-')} "
            f"(only {', '.join('--' + k.replace('_', '-') for k in RESUMABLE)} may change)"
        )
    try:
        cfg = TrainConfig.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as e:
        raise SaganError(f"cannot read '{path}': {e}") from None
    changes = {k: getattr(args, k) for k in RESUMABLE if getattr(args, k) is not None}
    return dataclasses.replace(cfg, **changes)


def new_config(args: argparse.Namespace):
    """Preset defaults, overridden by the flags given; also returns the loaded dataset."""
    preset = get_preset(args.preset or "digits")
    train_kw = {
        **preset.train,
        **{k: getattr(args, k) for k in TRAIN_FIELDS if getattr(args, k) is not None},
    }
    data = train_kw.get("data", "digits")
    dataset = load_dataset(data, preset.resolution)
    if not args.unconditional and dataset.num_classes < 2:
        raise SaganError(
            f"'{data}' has {dataset.num_classes} class; a class-conditional model needs "
            "at least 2 class subfolders, or pass --unconditional"
        )
    model = model_config(
        preset.name,
        0 if args.unconditional else dataset.num_classes,
        sn=args.sn,
        attn_g=args.attn_g,
        attn_d=args.attn_d,
        attn_variant=args.attn_variant,
        residual_instead_of_attention=args.residual_instead_of_attention,
    )
    return TrainConfig(model=model, preset=preset.name, **train_kw), dataset


def run(args: argparse.Namespace) -> None:
    """Resolve the config and train."""
    from sagan.training.loop import train

    if args.resume:
        train(resumed_config(args), resume=args.resume)
    else:
        cfg, dataset = new_config(args)
        train(cfg, dataset=dataset)
