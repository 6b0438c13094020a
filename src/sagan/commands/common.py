"""Helpers shared by the subcommands: parsing lists, building configs, naming sources."""

from __future__ import annotations

import argparse
from typing import Any

from sagan.commands.preflight import check_output_file
from sagan.config import ModelConfig
from sagan.pretrained import generator_from_checkpoint, resolve_checkpoint

# Loading lives in sagan.pretrained and output checks in preflight; these names stay
# importable from here as well.
__all__ = [
    "SOURCE_HELP",
    "check_output_file",
    "generator_from_checkpoint",
    "int_list",
    "model_config",
    "resolve_checkpoint",
]

SOURCE_HELP = (
    "an exported folder, a run folder (newest checkpoint), a checkpoint file, "
    "or a Hugging Face Hub id org/name[@revision]"
)


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
