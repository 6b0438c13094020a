"""Helpers shared by the subcommands: parsing lists, building configs, loading G."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from sagan.config import ModelConfig, TrainConfig
from sagan.errors import SaganError
from sagan.models import Generator
from sagan.training.checkpoint import latest_checkpoint, load_checkpoint

ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive


def int_list(text: str) -> tuple[int, ...]:
    """'32,64' -> (32, 64); '' or 'none' -> (). For argparse ``type=``."""
    text = text.strip().lower()
    if text in ("", "none"):
        return ()
    try:
        return tuple(int(t) for t in text.replace(";", ",").split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def model_config(preset_name: str, num_classes: int | None = None, **overrides: Any) -> ModelConfig:
    """The preset's architecture with the given overrides (None values are ignored)."""
    return ModelConfig.from_preset(preset_name, num_classes, **overrides)


def resolve_checkpoint(
    path: str, needs: tuple[str, ...] = ("config", "G")
) -> tuple[Path, dict[str, Any]]:
    """A checkpoint file, or a run folder whose newest readable checkpoint is used.

    The checkpoint must hold the entries in ``needs``; its config is checked as well.
    """
    p = Path(path)
    if p.is_dir():
        found = latest_checkpoint(p)
        if found is None:
            raise SaganError(f"no checkpoint in '{p}': pass a run folder that has checkpoints/")
        p, ckpt = found
    else:
        _sniff(p)
        ckpt = load_checkpoint(p)
    missing = [k for k in needs if ckpt.get(k) is None]
    if missing:
        raise SaganError(
            f"checkpoint '{p}' has no {missing[0]!r} entry: pass a checkpoint written by sagan train"
        )
    if "config" in needs:
        if not isinstance(ckpt["config"], dict):
            raise SaganError(f"checkpoint '{p}' has a malformed config: is it ours?")
        TrainConfig.from_dict(ckpt["config"], f"checkpoint '{p}'")
    return p, ckpt


def check_output_file(path: str, suffixes: tuple[str, ...], what: str) -> Path:
    """``--out`` names a file with one of ``suffixes`` (not a folder) whose folder can exist."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise SaganError(
            f"--out '{path}' is a folder: pass a file name, e.g. '{p / ('out' + suffixes[0])}'"
        )
    if p.suffix.lower() not in suffixes:
        raise SaganError(
            f"--out '{path}' must end in {', '.join(suffixes)} ({what}), "
            f"e.g. '{p.with_suffix(suffixes[0])}'"
        )
    blocking = next((q for q in p.parents if q.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise SaganError(f"cannot write --out '{path}': '{blocking}' is a file, not a folder")
    return p


def _sniff(p: Path) -> None:
    """Name the common wrong files before torch.load reports them in its own words."""
    if not p.is_file():
        return  # load_checkpoint says it does not exist
    try:
        with p.open("rb") as f:
            head = f.read(4)
    except OSError as e:
        raise SaganError(f"cannot read checkpoint '{p}': {e.strerror or e}") from None
    if not head:
        raise SaganError(
            f"checkpoint '{p}' is empty (an interrupted copy?): pass a complete .pt file"
        )
    if head != ZIP_MAGIC:
        raise SaganError(
            f"'{p}' is not a sagan checkpoint (not a PyTorch .pt file): pass a file from a run's "
            "checkpoints/ or the run folder"
        )


def generator_from_checkpoint(
    ckpt: dict[str, Any], device: torch.device | str = "cpu", use_ema: bool = True
) -> Generator:
    """Build G from a checkpoint's config and load its weights (EMA weights when present)."""
    from sagan.export import generator_from_checkpoint_state

    return generator_from_checkpoint_state(ckpt, use_ema).to(device)
