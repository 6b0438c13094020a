"""Helpers shared by the subcommands: parsing lists, building configs, loading G."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from sagan.config import ModelConfig, TrainConfig
from sagan.errors import SaganError
from sagan.models import Generator
from sagan.presets import get_preset
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
    p = get_preset(preset_name)
    kw: dict[str, Any] = {
        "resolution": p.resolution,
        "num_classes": p.num_classes if num_classes is None else num_classes,
        "g_channels": p.g_channels,
        "d_channels": p.d_channels,
        "d_downsample": p.d_downsample,
        "attn_g": p.attn_g,
        "attn_d": p.attn_d,
    }
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return ModelConfig(**kw)


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
    cfg = TrainConfig.from_dict(ckpt["config"])
    G = Generator(cfg.model)
    weights = ckpt.get("G_ema") if use_ema and ckpt.get("G_ema") is not None else ckpt["G"]
    G.load_state_dict(weights)
    return G.to(device).eval()
