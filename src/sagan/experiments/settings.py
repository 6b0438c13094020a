"""The settings each experiment trains, as changes to a base training config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sagan.config import TrainConfig


@dataclass(frozen=True)
class Setting:
    """A named variation: training-config changes and model-config changes."""

    name: str
    label: str
    train: dict[str, Any]
    model: dict[str, Any]

    def apply(self, base: TrainConfig, out: str) -> TrainConfig:
        """The base config with this setting's changes, writing under ``out``."""
        model = dataclasses.replace(base.model, **self.model)
        return dataclasses.replace(base, model=model, out=out, **self.train)


def stabilization_settings() -> list[Setting]:
    """Section 5.1: SN on D only (1:1 and 5:1), SN on G and D (1:1), and SN on G/D + TTUR.

    Without TTUR both networks use lr 1e-4, the paper's baselines; TTUR uses 1e-4 for G
    and 4e-4 for D.
    """
    same = {"lr_g": 1e-4, "lr_d": 1e-4}
    return [
        Setting("sn-d-1to1", "SN on D, 1:1", {**same, "n_dis": 1}, {"sn": "d"}),
        Setting("sn-d-5to1", "SN on D, 5:1", {**same, "n_dis": 5}, {"sn": "d"}),
        Setting("sn-gd-1to1", "SN on G/D, 1:1", {**same, "n_dis": 1}, {"sn": "both"}),
        Setting(
            "sn-gd-ttur",
            "SN on G/D + TTUR",
            {"lr_g": 1e-4, "lr_d": 4e-4, "n_dis": 1},
            {"sn": "both"},
        ),
    ]


def placement_sizes(base: TrainConfig) -> list[int]:
    """Feature sizes that both G and D have, where attention can go in both (8..64)."""
    common = set(base.model.g_sizes) & set(base.model.d_sizes)
    return sorted(s for s in common if 4 <= s <= 64)


def placement_settings(base: TrainConfig) -> list[Setting]:
    """Section 5.2, Table 1: no attention; attention at each size; a residual block instead."""
    settings = [Setting("no-attention", "no attention", {}, {"attn_g": (), "attn_d": ()})]
    sizes = placement_sizes(base)
    for s in sizes:
        model = {"attn_g": (s,), "attn_d": (s,), "residual_instead_of_attention": False}
        settings.append(Setting(f"sagan-feat{s}", f"SAGAN feat{s}", {}, model))
    for s in sizes:
        model = {"attn_g": (s,), "attn_d": (s,), "residual_instead_of_attention": True}
        settings.append(Setting(f"residual-feat{s}", f"residual feat{s}", {}, model))
    return settings


# The limited-data remedies (none is in the official code), as changes to the base run.
# ADA's p may go from 0 to 1 within a quarter of the run (ada_kimg is set from the run's
# length in ``limited_data_settings``): its paper's 500k images assume runs of millions.
LIMITED_DATA_REMEDIES: dict[str, tuple[str, dict[str, Any]]] = {
    "official": ("official recipe", {}),
    "diffaugment": ("DiffAugment", {"diffaugment": "color,translation,cutout"}),
    "ada": ("DiffAugment + ADA", {"diffaugment": "color,translation,cutout", "ada_target": 0.6}),
    "lecam": ("LeCam", {"lecam": 0.3}),
    "ema-lecam": ("EMA + LeCam", {"ema": True, "ema_decay": 0.99, "lecam": 0.3}),
    "ema-lecam-ada": (
        "EMA + LeCam + ADA",
        {
            "ema": True,
            "ema_decay": 0.99,
            "lecam": 0.3,
            "diffaugment": "color,translation,cutout",
            "ada_target": 0.6,
        },
    ),
}


def fraction_name(fraction: float) -> str:
    """'1', '0.5', '0.25': how a fraction appears in setting names and tables."""
    return f"{fraction:g}"


def limited_data_settings(
    base: TrainConfig, fractions: list[float], remedies: list[str] | None = None
) -> list[Setting]:
    """Each remedy (default: all of ``LIMITED_DATA_REMEDIES``) on each stratified fraction
    of the training set. LeCam's anchors start averaging after a twentieth of the run."""
    chosen = remedies or list(LIMITED_DATA_REMEDIES)
    settings = []
    for fraction in fractions:
        for name in chosen:
            label, train = LIMITED_DATA_REMEDIES[name]
            train = {**train, "data_fraction": fraction}
            if "ada_target" in train:
                train["ada_kimg"] = base.steps * base.batch / 4000
            if "lecam" in train:
                train["lecam_start"] = max(1, base.steps // 20)
            settings.append(
                Setting(
                    f"{name}-f{fraction_name(fraction)}",
                    f"{label}, {fraction_name(fraction)} of the data",
                    train,
                    {},
                )
            )
    return settings
