"""Named architectures and their training defaults.

``imagenet128`` is the official ``generator_test`` / ``discriminator_test`` with
gf_dim = df_dim = 64. ``cifar32`` follows the widths of StudioGAN's CIFAR-10 SAGAN
(G 256 wide, D 128 wide, attention at 16x16). ``tiny64`` is the same family at 64x64,
and ``digits`` a small model that trains on a laptop CPU in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sagan.errors import SaganError


@dataclass(frozen=True)
class Preset:
    """A model architecture plus the training defaults that suit it."""

    name: str
    resolution: int
    g_channels: tuple[int, ...]
    d_channels: tuple[int, ...]
    d_downsample: tuple[bool, ...]
    attn_g: tuple[int, ...]
    attn_d: tuple[int, ...]
    num_classes: int
    train: dict[str, Any] = field(default_factory=dict)  # the official recipe's defaults
    description: str = ""
    # This project's own recipe on top of ``train`` (none of it in the official code);
    # ``sagan train --official`` drops it. Only the digits demo has one.
    recipe: dict[str, Any] = field(default_factory=dict)

    def defaults(self, official: bool = False) -> dict[str, Any]:
        """The training defaults: the official recipe, plus the preset's own unless
        ``official``."""
        return {**self.train, **({} if official else self.recipe)}


def _imagenet128() -> Preset:
    ch = 64
    return Preset(
        name="imagenet128",
        resolution=128,
        g_channels=tuple(ch * m for m in (16, 16, 8, 4, 2, 1)),
        d_channels=tuple(ch * m for m in (1, 2, 4, 8, 16, 16)),
        d_downsample=(True, True, True, True, True, False),
        attn_g=(32,),
        attn_d=(32,),
        num_classes=1000,
        train={"batch": 256, "steps": 1_000_000, "ckpt_every": 5000, "sample_every": 5000},
        description="official ImageNet 128x128 SAGAN (generator_test/discriminator_test, ch=64)",
    )


def _tiny64() -> Preset:
    ch = 64
    return Preset(
        name="tiny64",
        resolution=64,
        g_channels=tuple(ch * m for m in (16, 8, 4, 2, 1)),
        d_channels=tuple(ch * m for m in (1, 2, 4, 8, 16)),
        d_downsample=(True, True, True, True, False),
        attn_g=(32,),
        attn_d=(32,),
        num_classes=200,
        train={"batch": 64, "steps": 100_000, "ckpt_every": 5000, "sample_every": 2000},
        description="64x64 data such as Tiny-ImageNet (same block family, ch=64)",
    )


def _cifar32() -> Preset:
    return Preset(
        name="cifar32",
        resolution=32,
        g_channels=(256, 256, 256, 256),
        d_channels=(128, 128, 128, 128),
        d_downsample=(True, True, False, False),
        attn_g=(16,),
        attn_d=(16,),
        num_classes=10,
        train={"batch": 64, "steps": 100_000, "ckpt_every": 5000, "sample_every": 2000},
        description="32x32 data such as CIFAR-10 (StudioGAN's CIFAR-10 SAGAN widths)",
    )


def _digits() -> Preset:
    return Preset(
        name="digits",
        resolution=16,
        g_channels=(64, 64, 32),
        d_channels=(32, 64, 64),
        d_downsample=(True, True, False),
        attn_g=(8,),
        attn_d=(8,),
        num_classes=10,
        train={"batch": 32, "steps": 2000, "ckpt_every": 500, "sample_every": 250},
        description="small 16x16 model for the embedded digits data; trains on a CPU in minutes",
        # On 1,437 digits the official recipe collapses within each class (7x the real
        # FID floor); EMA and LeCam, trained three times as long, reach about 2.2x
        # (docs/limited-data.md has the measurements).
        recipe={
            "steps": 6000,
            "ckpt_every": 1000,
            "sample_every": 500,
            "ema": True,
            "ema_decay": 0.99,
            "lecam": 0.3,
            "lecam_decay": 0.99,
            "lecam_start": 100,
        },
    )


PRESETS: dict[str, Preset] = {p.name: p for p in (_imagenet128(), _tiny64(), _cifar32(), _digits())}


def get_preset(name: str) -> Preset:
    """Look up a preset by name, with the list of names on a miss."""
    try:
        return PRESETS[name]
    except KeyError:
        raise SaganError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}") from None
