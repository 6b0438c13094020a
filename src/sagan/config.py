"""Typed, frozen configuration for training runs (the architecture's is ``ModelConfig``,
in ``sagan.model_config``, re-exported here).

A config is validated once, when it is built; every error says what to change. The
resolved training config is written to ``config.json`` in every run folder
(``sagan.config_io``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sagan.config_check import check_config_dict
from sagan.errors import SaganError
from sagan.model_config import (  # noqa: F401 (the architecture's config, re-exported)
    BASE_RESOLUTION,
    DIGITS_CLASSES,
    AttnVariant,
    ModelConfig,
    SNMode,
    model_config_from_dict,
)

RESOLVED = "resolved"  # config.json's record of what "auto" settings became on this machine
DEPARTURES = "departures_from_official"  # and of the options the official code lacks
INFORMATIVE = (RESOLVED, DEPARTURES)  # written for readers, dropped when a config is read
POLICY_WORDS = ("color", "translation", "cutout")  # DiffAugment's transforms, in its order


def parse_policy(text: str) -> tuple[str, ...]:
    """'color,translation' -> ('color', 'translation'); '' or 'none' -> ().

    Words keep DiffAugment's order (colour, then translation, then cutout) whatever order
    they are given in.
    """
    words = [w.strip().lower() for w in text.replace(";", ",").split(",") if w.strip()]
    if words == ["none"]:
        return ()
    bad = [w for w in words if w not in POLICY_WORDS]
    if bad:
        raise SaganError(
            f"--diffaugment: unknown transform {bad[0]!r}: use a comma list of "
            f"{', '.join(POLICY_WORDS)}, e.g. color,translation,cutout"
        )
    return tuple(w for w in POLICY_WORDS if w in words)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved as config.json before step 0."""

    model: ModelConfig
    preset: str
    data: str = "digits"
    out: str = "runs"
    steps: int = 2000
    batch: int = 64
    n_dis: int = 1
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999  # the official code's (TensorFlow default); the paper says 0.9
    ema: bool = False
    ema_decay: float = 0.999
    seed: int = 0
    device: str = "auto"
    ckpt_every: int = 500
    keep_ckpts: int = 3
    sample_every: int = 500
    log_every: int = 10
    workers: int = 0
    eval_every: int = 0  # 0: no evaluation during training
    eval_samples: int = 5000
    eval_metrics: str = "auto"  # auto: fid,class_accuracy on digits, else is,fid
    extractor: str = "auto"  # auto: digits classifier on digits, else Inception
    inception_weights: str | None = None
    tensorboard: bool = True
    sync_bn: bool = False  # G's batch norm over the global batch (default: per process)
    grad_limit: float = 1e5  # a larger gradient norm counts as divergence and rolls back
    max_rollbacks: int = 3  # rollbacks in a row before training stops
    precision: str = "auto"  # auto: bf16 on CUDA and on CPUs with native bf16 (not small models)
    compile: str = "auto"  # torch.compile of G and D: auto (on CUDA), on, off
    channels_last: str = "auto"  # auto (on CUDA), on, off
    fused_resampling: str = "auto"  # blocks' upsample/pool convs fused: auto (on), on, off
    reference: bool = (
        False  # the slow path: fp32, eager, materialised attention, literal resampling
    )
    # Limited data (none in the official code; see sagan.training.limited_data).
    data_fraction: float = 1.0  # a stratified share of the training set (per class)
    diffaugment: str = ""  # DiffAugment policy, e.g. "color,translation,cutout"; "" = off
    translation_ratio: float = 0.125  # DiffAugment's largest shift, of the image side
    cutout_ratio: float = 0.5  # DiffAugment's cutout square, of the image side
    augment_p: float | None = None  # each transform's probability per image, or with ADA its
    # start; None: 1 without ADA, 0 with it (as in the ADA paper)
    ada_target: float | None = None  # ADA: adapt p so that E[sign(D(x_real))] -> target
    ada_interval: int = 4  # D steps between adjustments of p
    ada_kimg: float = 500.0  # thousands of images for p to move from 0 to 1
    lecam: float = 0.0  # LeCam regularisation weight; 0 = off
    lecam_decay: float = 0.99  # decay of the anchors' moving averages
    lecam_start: int = 1000  # D steps before the anchors start averaging

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "batch",
            "n_dis",
            "ckpt_every",
            "sample_every",
            "log_every",
            "keep_ckpts",
        ):
            if getattr(self, name) <= 0:
                raise SaganError(
                    f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}"
                )
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise SaganError(
                    f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}"
                )
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise SaganError(
                    f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(self, name)}"
                )
        if not 0.0 < self.ema_decay < 1.0:
            raise SaganError(f"--ema-decay must be in (0, 1), e.g. 0.999; got {self.ema_decay}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise SaganError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.eval_every < 0 or self.eval_samples <= 0:
            raise SaganError("--eval-every must be >= 0 and --eval-samples positive")
        if self.extractor not in ("auto", "inception", "digits"):
            raise SaganError(
                f"--extractor must be auto, inception or digits, got {self.extractor!r}"
            )
        if self.workers < 0:
            raise SaganError(f"--workers must be >= 0, got {self.workers}")
        self._validate_eval_metrics()
        if not self.grad_limit > 0:
            raise SaganError(f"--grad-limit must be positive, got {self.grad_limit}")
        if self.max_rollbacks < 0:
            raise SaganError(f"--max-rollbacks must be >= 0, got {self.max_rollbacks}")
        self._validate_speed()
        self._validate_limited_data()

    def _validate_limited_data(self) -> None:
        """DiffAugment, ADA, LeCam and the data fraction: known words and values in range."""
        policy = parse_policy(self.diffaugment)
        if not 0.0 < self.data_fraction <= 1.0:
            raise SaganError(f"--data-fraction must be in (0, 1], got {self.data_fraction}")
        if not 0.0 <= self.translation_ratio <= 0.5:
            raise SaganError(
                f"--translation-ratio must be in [0, 0.5], got {self.translation_ratio}"
            )
        if not 0.0 < self.cutout_ratio <= 1.0:
            raise SaganError(f"--cutout-ratio must be in (0, 1], got {self.cutout_ratio}")
        if self.augment_p is not None and not 0.0 <= self.augment_p <= 1.0:
            raise SaganError(f"--augment-p must be in [0, 1], got {self.augment_p}")
        if self.ada_target is not None:
            if not 0.0 < self.ada_target < 1.0:
                raise SaganError(
                    f"--ada-target must be in (0, 1), e.g. 0.6 (the ADA paper's); "
                    f"got {self.ada_target}"
                )
            if not policy:
                raise SaganError(
                    "--ada-target adapts the augmentation probability: give --diffaugment "
                    "POLICY as well, e.g. --diffaugment translation"
                )
        if self.ada_interval <= 0 or not self.ada_kimg > 0:
            raise SaganError("--ada-interval and --ada-kimg must be positive")
        if not self.lecam >= 0.0:
            raise SaganError(f"--lecam must be a weight >= 0 (0: off), got {self.lecam}")
        if not 0.0 <= self.lecam_decay < 1.0:
            raise SaganError(f"--lecam-decay must be in [0, 1), got {self.lecam_decay}")
        if self.lecam_start < 0:
            raise SaganError(f"--lecam-start must be >= 0, got {self.lecam_start}")

    def _validate_speed(self) -> None:
        """The fast path's switches: known values, and none that --reference contradicts."""
        if self.precision not in ("auto", "fp32", "bf16"):
            raise SaganError(f"--precision must be auto, fp32 or bf16, got {self.precision!r}")
        for name in ("compile", "channels_last", "fused_resampling"):
            if getattr(self, name) not in ("auto", "on", "off"):
                raise SaganError(
                    f"{name} must be auto, on or off (--{name.replace('_', '-')} or "
                    f"--no-{name.replace('_', '-')}), got {getattr(self, name)!r}"
                )
        if self.reference:
            if self.precision == "bf16":
                raise SaganError("--reference runs in fp32: drop --precision bf16 or --reference")
            for name in ("compile", "channels_last", "fused_resampling"):
                if getattr(self, name) == "on":
                    flag = name.replace("_", "-")
                    raise SaganError(f"--reference runs without --{flag}: drop one of the two")

    def _validate_eval_metrics(self) -> None:
        """Unknown metrics, or ones this model cannot have, fail now rather than at step N.

        Only checked when evaluation is on, so an old config with an unused setting loads.
        """
        if self.eval_metrics == "auto" or self.eval_every <= 0:
            return
        from sagan.metrics.registry import parse_metrics

        try:
            names = parse_metrics(self.eval_metrics)
        except SaganError as e:
            raise SaganError(f"--eval-metrics: {e}") from None
        if "class_accuracy" in names and (
            self.resolved_extractor != "digits" or self.model.num_classes != DIGITS_CLASSES
        ):
            raise SaganError(
                "--eval-metrics class_accuracy needs the digits extractor and a model of the "
                f"{DIGITS_CLASSES} digit classes: drop it or train on --data digits"
            )
        if "intra_fid" in names and self.model.num_classes == 0:
            raise SaganError(
                "--eval-metrics intra_fid needs a class-conditional model: drop it or the "
                "--unconditional flag"
            )

    def departures(self) -> dict[str, Any]:
        """The options in use that the official code does not have (EMA, limited-data
        regularisers, a share of the data), with their settings; {} for an official run."""
        out: dict[str, Any] = {}
        if self.ema:
            out.update(ema=True, ema_decay=self.ema_decay)
        if self.lecam:
            out.update(lecam=self.lecam, lecam_decay=self.lecam_decay, lecam_start=self.lecam_start)
        if parse_policy(self.diffaugment):
            out["diffaugment"] = self.diffaugment
            out.update(translation_ratio=self.translation_ratio, cutout_ratio=self.cutout_ratio)
            if self.ada_target is not None:
                out.update(ada_target=self.ada_target, ada_kimg=self.ada_kimg)
            elif self.augment_p is not None:
                out["augment_p"] = self.augment_p
        if self.data_fraction < 1.0:
            out["data_fraction"] = self.data_fraction
        return out

    @classmethod
    def from_preset(
        cls,
        preset: str = "digits",
        num_classes: int | None = None,
        official: bool = False,
        **kw: Any,
    ) -> TrainConfig:
        """A run of a preset with its training defaults; ``kw`` overrides any field.

        ``num_classes`` must match the data (0 for unconditional); it defaults to the
        preset's (10 for digits and cifar32). ``official`` leaves out the preset's own
        recipe (``Preset.recipe``: only digits has one) for the official code's.

        >>> cfg = TrainConfig.from_preset("digits", steps=100, out="runs")
        >>> cfg.lr_g, cfg.lr_d, cfg.batch
        (0.0001, 0.0004, 32)
        """
        from sagan.presets import get_preset

        model_kw = {
            k: kw.pop(k) for k in list(kw) if k in {f.name for f in dataclasses.fields(ModelConfig)}
        }
        model = ModelConfig.from_preset(preset, num_classes, **model_kw)
        return cls(model=model, preset=preset, **{**get_preset(preset).defaults(official), **kw})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole config."""
        return dataclasses.asdict(self)

    @property
    def resolved_extractor(self) -> str:
        """The feature network periodic evaluation uses."""
        if self.extractor != "auto":
            return self.extractor
        return "digits" if self.data == "digits" else "inception"

    @property
    def resolved_eval_metrics(self) -> str:
        """The metrics periodic evaluation computes."""
        if self.eval_metrics != "auto":
            return self.eval_metrics
        if self.resolved_extractor != "digits":
            return "is,fid"
        return "fid,class_accuracy" if self.model.num_classes == DIGITS_CLASSES else "fid"

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "the training config") -> TrainConfig:
        """Rebuild a config from ``to_dict`` output.

        Unknown or missing keys and values of the wrong type are a SaganError naming the key
        and ``source`` (e.g. "'runs/00000-digits-digits/config.json'").
        """
        d = {k: v for k, v in d.items() if k not in INFORMATIVE} if isinstance(d, dict) else d
        check_config_dict(cls, d, source, partial=False, nested={"model": ModelConfig})
        d = dict(d)
        model = model_config_from_dict(d.pop("model"), source)
        return cls(model=model, **d)
