"""``sagan train``: train a class-conditional SAGAN (digits by default)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sagan.commands.common import int_list, model_config
from sagan.commands.preflight import (
    check_data_classes,
    check_data_decodes,
    check_evaluation,
    check_gpus,
    check_new_run_out,
    check_resume,
    resume_folder,
)
from sagan.config import TrainConfig, read_config_file
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
    "grad_limit",
    "max_rollbacks",
    "sync_bn",
)
TRAIN_FIELDS = tuple(
    f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("model", "preset")
)
ARCH_FLAGS = ("sn", "attn_g", "attn_d", "attn_variant", "residual_instead_of_attention")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``train`` and its options."""
    p = sub.add_parser("train", help="train a SAGAN", description=__doc__)
    _data_options(p)
    _optimisation_options(p)
    _architecture_options(p)
    _limited_data_options(p)
    _distributed_options(p)
    _speed_options(p)
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
    g.add_argument(
        "--config",
        metavar="FILE",
        help="start from a saved config.json (a run's, its run folder, or a partial one); "
        "the flags given override it",
    )
    g.add_argument("--unconditional", action="store_true", help="ignore labels (num_classes = 0)")
    g.add_argument(
        "--official",
        action="store_true",
        help="the official recipe: leave out the preset's own departures from it (digits: "
        "EMA 0.99, LeCam 0.3, 6,000 steps; the other presets have none)",
    )


def _optimisation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimisation (defaults: the official code's TTUR)")
    g.add_argument("--steps", type=int, help="G updates in total")
    g.add_argument(
        "--batch",
        type=int,
        help="images per D and per G step; under torchrun the global batch, split over ranks",
    )
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
    g.add_argument(
        "--grad-limit",
        type=float,
        help="a gradient norm above this (or a NaN/Inf loss) rolls back to the last "
        "checkpoint (default 1e5)",
    )
    g.add_argument(
        "--max-rollbacks", type=int, help="rollbacks in a row before stopping (default 3)"
    )


def _limited_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("limited data (none of these is in the official code)")
    g.add_argument(
        "--data-fraction",
        type=float,
        metavar="F",
        help="train on a stratified share F of each class (default 1)",
    )
    g.add_argument(
        "--diffaugment",
        metavar="POLICY",
        help="DiffAugment of D's real and fake inputs: a comma list of color, translation, "
        "cutout ('' or none: off)",
    )
    g.add_argument(
        "--translation-ratio", type=float, help="largest shift, of the image side (0.125)"
    )
    g.add_argument("--cutout-ratio", type=float, help="cutout square, of the image side (0.5)")
    g.add_argument(
        "--augment-p",
        type=float,
        help="probability of each transform per image (default 1; with --ada-target its "
        "start, default 0)",
    )
    g.add_argument(
        "--ada-target",
        type=float,
        metavar="R",
        help="adapt that probability so that E[sign(D(x_real))] stays at R (ADA: 0.6)",
    )
    g.add_argument("--ada-interval", type=int, help="D steps between adjustments (default 4)")
    g.add_argument("--ada-kimg", type=float, help="k images for p to go from 0 to 1 (500)")
    g.add_argument(
        "--lecam", type=float, metavar="WEIGHT", help="LeCam regularisation of D (default 0: off)"
    )
    g.add_argument("--lecam-decay", type=float, help="decay of LeCam's anchors (default 0.99)")
    g.add_argument(
        "--lecam-start", type=int, help="D steps before the anchors average (default 1000)"
    )


def _distributed_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "several GPUs (torchrun --nproc-per-node N -m sagan train ... works as well)"
    )
    g.add_argument(
        "--gpus",
        type=int,
        help="launch N processes on this machine through torchrun; --batch stays the "
        "global batch, split evenly over the processes",
    )
    g.add_argument(
        "--sync-bn",
        action="store_true",
        default=None,
        help="G's batch norm over the global batch (default: per process, as the official code)",
    )


def _speed_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "speed (defaults: bf16, compile and channels_last on CUDA; on a CPU eager, with bf16 "
        "and channels_last where the CPU computes bf16 natively and the model is not small)"
    )
    g.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        help="forward passes in bf16 autocast (spectral norm and losses stay fp32) or fp32; "
        "auto: bf16 on CUDA, and on a CPU that computes bf16 natively (AMX-BF16, AVX512-BF16) "
        "for all but small models; the run's first log line says which and why",
    )
    for name, what in (
        ("compile", "torch.compile G and D"),
        ("channels-last", "NHWC tensors"),
        ("fused-resampling", "each block's upsample/pool conv as one strided conv (default on)"),
    ):
        dest = name.replace("-", "_")
        g.add_argument(f"--{name}", dest=dest, action="store_const", const="on", help=what)
        g.add_argument(
            f"--no-{name}", dest=dest, action="store_const", const="off", help=f"no {what}"
        )
    g.add_argument(
        "--reference",
        action="store_true",
        default=None,
        help="the slow path for comparisons: fp32, eager, materialised attention maps, "
        "literal upsample/pool convolutions",
    )


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
    path = resume_folder(args.resume) / "config.json"
    fixed = [
        k
        for k, v in vars(args).items()
        if v not in (None, False)
        and k not in RESUMABLE + ("resume", "run", "command", "debug", "gpus", "argv")
    ]
    if fixed:
        raise SaganError(
            f"--resume uses the run's own settings; drop --{fixed[0].replace('_', '-')} "
            f"(only {', '.join('--' + k.replace('_', '-') for k in RESUMABLE)} may change)"
        )
    try:
        cfg = TrainConfig.from_dict(json.loads(path.read_text()), f"'{path}'")
    except (ValueError, TypeError, KeyError) as e:
        raise SaganError(f"cannot read '{path}': {e}") from None
    changes = {k: getattr(args, k) for k in RESUMABLE if getattr(args, k) is not None}
    return dataclasses.replace(cfg, **changes)


def planned_config(args: argparse.Namespace) -> tuple[TrainConfig, dict[str, Any], bool]:
    """Preset defaults, then ``--config FILE``, then the flags given, checked before any data
    is read. Returns (config with a provisional class count, model overrides, unconditional).
    """
    file = read_config_file(args.config) if args.config else {}
    from_file = "preset" in file and not args.preset
    with _naming_keys_of(args.config) if from_file else nullcontext():
        preset = get_preset(args.preset or file.get("preset", "digits"))
    if args.preset and file.get("preset", args.preset) != args.preset:
        raise SaganError(
            f"'{args.config}' is a {file['preset']} config: drop --preset {args.preset}, or "
            "drop --config to start from the preset's defaults"
        )
    file_model = dict(file.get("model", {}))
    file_classes = file_model.pop("num_classes", None)
    file_train = {k: v for k, v in file.items() if k not in ("model", "preset")}
    if file:
        with _naming_keys_of(args.config):
            TrainConfig(
                model=model_config(preset.name, file_classes, **file_model),
                preset=preset.name,
                **{**preset.defaults(bool(args.official)), **file_train},
            )
    arch = {k: getattr(args, k) for k in ARCH_FLAGS if getattr(args, k) is not None}
    model_kw = {**file_model, **arch}
    unconditional = bool(args.unconditional) or file_classes == 0
    flags = {k: getattr(args, k) for k in TRAIN_FIELDS if getattr(args, k) is not None}
    cfg = TrainConfig(
        model=model_config(preset.name, 0 if unconditional else file_classes, **model_kw),
        preset=preset.name,
        **{**preset.defaults(bool(args.official)), **file_train, **flags},
    )
    return cfg, model_kw, unconditional


@contextmanager
def _naming_keys_of(path: str) -> Iterator[None]:
    """Report a bad value from a config file by its key (steps) rather than its flag."""
    try:
        yield
    except SaganError as e:
        text = re.sub(r"--([a-z0-9-]+)", lambda m: m.group(1).replace("-", "_"), str(e))
        raise SaganError(f"bad value in '{path}': {text}") from None


def new_config(args: argparse.Namespace):
    """The planned config with the data's class count; also returns the loaded dataset."""
    planned, model_kw, unconditional = planned_config(args)
    dataset = load_dataset(planned.data, planned.model.resolution)
    if not unconditional and dataset.num_classes < 2:
        raise SaganError(
            f"'{planned.data}' has {dataset.num_classes} class; a class-conditional model "
            "needs at least 2 class subfolders, or pass --unconditional"
        )
    classes = 0 if unconditional else dataset.num_classes
    model = model_config(planned.preset, classes, **model_kw)
    return dataclasses.replace(planned, model=model), dataset


def run(args: argparse.Namespace) -> None:
    """Resolve the config, check everything that can be checked before writing, and train."""
    from sagan.training.loop import train

    if args.resume:
        cfg = resumed_config(args)
        check_gpus(args.gpus, cfg.batch)
        check_evaluation(cfg)
        if args.gpus and not os.environ.get("WORLD_SIZE"):
            launch_torchrun(args.gpus, getattr(args, "argv", None) or sys.argv[1:])
        check_resume(cfg, args.resume)
        dataset = load_dataset(cfg.data, cfg.model.resolution)
        check_data_classes(cfg, dataset.num_classes)
        check_data_decodes(dataset)
        train(cfg, resume=args.resume, dataset=dataset)
    else:
        planned, _, _ = planned_config(args)
        check_new_run_out(planned.out)
        check_gpus(args.gpus, planned.batch)
        check_evaluation(planned)
        if args.gpus and not os.environ.get("WORLD_SIZE"):
            launch_torchrun(args.gpus, getattr(args, "argv", None) or sys.argv[1:])
        cfg, dataset = new_config(args)
        check_data_decodes(dataset)
        train(cfg, dataset=dataset)


def launch_torchrun(n: int, argv: list[str]) -> None:
    """Run ``torchrun --standalone --nproc-per-node n -m sagan ARGV`` (without --gpus).

    Inside the workers WORLD_SIZE is set, so they train instead of launching again. A
    failing worker has printed its own error; its exit status is passed on.
    """
    import os
    import subprocess
    import sys

    if os.environ.get("WORLD_SIZE"):
        return
    if n < 1:
        raise SaganError(f"--gpus must be at least 1, got {n}")
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--gpus":
            skip = True
        elif not a.startswith("--gpus="):
            rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc-per-node", str(n), "-m", "sagan", *rest]
    sys.stdout.flush()
    raise SystemExit(subprocess.call(cmd))
