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

from sagan.commands.common import model_config
from sagan.commands.preflight import (
    check_data_classes,
    check_data_decodes,
    check_evaluation,
    check_gpus,
    check_new_run_out,
    check_resume,
    resume_folder,
)
from sagan.commands.train_options import add_train_arguments
from sagan.config import TrainConfig
from sagan.config_io import read_config_file
from sagan.data import load_dataset
from sagan.errors import SaganError
from sagan.presets import get_preset

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
    """Register ``train`` and its options (``sagan.commands.train_options``)."""
    p = sub.add_parser("train", help="train a SAGAN", description=__doc__)
    add_train_arguments(p)
    p.set_defaults(run=run)


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
