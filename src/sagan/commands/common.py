"""Helpers shared by the subcommands: parsing lists, building configs, loading G."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from sagan.config import ModelConfig
from sagan.errors import SaganError
from sagan.models import Generator
from sagan.training.checkpoint import latest_checkpoint, load_checkpoint


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


def resolve_checkpoint(path: str) -> tuple[Path, dict[str, Any]]:
    """A checkpoint file, or a run folder whose newest readable checkpoint is used."""
    p = Path(path)
    if p.is_dir():
        found = latest_checkpoint(p)
        if found is None:
            raise SaganError(f"no checkpoint in '{p}': pass a run folder that has checkpoints/")
        return found
    return p, load_checkpoint(p)


def generator_from_checkpoint(
    ckpt: dict[str, Any], device: torch.device | str = "cpu", use_ema: bool = True
) -> Generator:
    """Build G from a checkpoint's config and load its weights (EMA weights when present)."""
    from sagan.export import generator_from_checkpoint_state

    return generator_from_checkpoint_state(ckpt, use_ema).to(device)
