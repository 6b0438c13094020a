"""Typed, frozen configuration for models and training runs.

A config is validated once, when it is built; every error says what to change. The
resolved training config is written to ``config.json`` in every run folder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sagan.config_check import check_config_dict
from sagan.errors import SaganError

AttnVariant = Literal["official", "paper"]
SNMode = Literal["both", "d", "g", "none"]

BASE_RESOLUTION = 4  # G starts from a 4x4 map, D ends on one, as in the official code.
DIGITS_CLASSES = 10  # the digits classifier behind class_accuracy knows these classes
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
class ModelConfig:
    """Architecture of a SAGAN generator and projection discriminator.

    ``g_channels[0]`` is the width of G's 4x4 input map and ``g_channels[i]`` the width
    after the i-th up-block (each doubles the resolution). ``d_channels[i]`` is the output
    width of D's i-th block; block 0 is the "optimized" first block, and
    ``d_downsample[i]`` says whether block i halves the resolution.
    """

    resolution: int
    num_classes: int
    g_channels: tuple[int, ...]
    d_channels: tuple[int, ...]
    d_downsample: tuple[bool, ...]
    attn_g: tuple[int, ...] = ()
    attn_d: tuple[int, ...] = ()
    attn_variant: AttnVariant = "official"
    residual_instead_of_attention: bool = False
    sn: SNMode = "both"
    z_dim: int = 128
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        object.__setattr__(self, "g_channels", tuple(int(c) for c in self.g_channels))
        object.__setattr__(self, "d_channels", tuple(int(c) for c in self.d_channels))
        object.__setattr__(self, "d_downsample", tuple(bool(d) for d in self.d_downsample))
        object.__setattr__(self, "attn_g", tuple(sorted({int(s) for s in self.attn_g})))
        object.__setattr__(self, "attn_d", tuple(sorted({int(s) for s in self.attn_d})))
        self.validate()

    @classmethod
    def from_preset(
        cls, name: str, num_classes: int | None = None, **overrides: Any
    ) -> ModelConfig:
        """A preset's architecture, e.g. ``ModelConfig.from_preset("cifar32", 10, attn_g=(8,))``.

        >>> ModelConfig.from_preset("imagenet128").attn_g
        (32,)
        """
        from sagan.presets import get_preset

        p = get_preset(name)
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
        return cls(**kw)

    @property
    def g_sizes(self) -> tuple[int, ...]:
        """Feature-map sizes after each of G's up-blocks, where attention may go."""
        return tuple(BASE_RESOLUTION * 2 ** (i + 1) for i in range(len(self.g_channels) - 1))

    @property
    def d_sizes(self) -> tuple[int, ...]:
        """Feature-map sizes after each of D's blocks."""
        sizes, size = [], self.resolution
        for down in self.d_downsample:
            size = size // 2 if down else size
            sizes.append(size)
        return tuple(sizes)

    def validate(self) -> None:
        """Raise SaganError with a fix for any inconsistent setting."""
        if self.num_classes < 0:
            raise SaganError(
                f"num_classes must be >= 0 (0 = unconditional), got {self.num_classes}"
            )
        if self.z_dim <= 0:
            raise SaganError(f"z_dim must be positive, got {self.z_dim}")
        if len(self.g_channels) < 2 or min(self.g_channels) <= 0:
            raise SaganError("g_channels needs at least two positive widths (4x4 input, one block)")
        g_res = self.g_sizes[-1]
        if g_res != self.resolution:
            raise SaganError(
                f"G with {len(self.g_channels) - 1} up-blocks makes {g_res}x{g_res} images, "
                f"not {self.resolution}x{self.resolution}: use a preset for that resolution"
            )
        if len(self.d_channels) != len(self.d_downsample) or not self.d_channels:
            raise SaganError("d_channels and d_downsample must have the same, non-zero length")
        if not self.d_downsample[0]:
            raise SaganError("D's first (optimized) block always downsamples")
        if min(self.d_channels) <= 0:
            raise SaganError("d_channels must be positive")
        if self.resolution % 2 ** sum(self.d_downsample) != 0:
            raise SaganError(
                f"resolution {self.resolution} cannot be halved {sum(self.d_downsample)} times"
            )
        if self.attn_variant not in ("official", "paper"):
            raise SaganError(
                f"attn_variant must be 'official' or 'paper', got {self.attn_variant!r}"
            )
        if self.sn not in ("both", "d", "g", "none"):
            raise SaganError(f"sn must be one of both, d, g, none; got {self.sn!r}")
        self._validate_attention("G", self.attn_g, self.g_sizes, self.g_channels[1:])
        self._validate_attention("D", self.attn_d, self.d_sizes, self.d_channels)

    def _validate_attention(
        self, net: str, wanted: tuple[int, ...], sizes: tuple[int, ...], widths: tuple[int, ...]
    ) -> None:
        flag = "--attn-g" if net == "G" else "--attn-d"
        for s in wanted:
            if s not in sizes:
                have = ",".join(str(x) for x in sorted(set(sizes)))
                raise SaganError(
                    f"{net} has no {s}x{s} feature map for attention: choose {flag} from {have}"
                )
            width = widths[sizes.index(s)]  # attention follows the first block of that size
            if width < 8 or width % 8:
                raise SaganError(
                    f"attention needs a width divisible by 8; {net} has {width} at {s}x{s}"
                )
            if self.attn_variant == "official" and s < 2:
                raise SaganError(
                    f"the official attention pools 2x2 and needs a map >= 2x2, not {s}x{s}"
                )


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


def model_config_from_dict(d: dict[str, Any], source: str = "the model config") -> ModelConfig:
    """Rebuild a ModelConfig from a dict, rejecting unknown keys and wrong types."""
    check_config_dict(ModelConfig, d, source, partial=False, prefix="model.")
    return ModelConfig(**d)


def read_config_file(path: str) -> dict[str, Any]:
    """A training config, maybe partial, from a JSON file (or a run folder's config.json).

    Unknown keys and values of the wrong type are one-line errors naming the key; the
    values themselves are checked when the config is built.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "config.json"
    if p.exists() and not p.is_file():  # reading a named pipe would wait forever
        raise SaganError(f"config file '{p}' is not a regular file: pass a JSON file")
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise SaganError(
            f"config file '{p}' does not exist: pass a run's config.json or its run folder"
        ) from None
    except json.JSONDecodeError as e:
        raise SaganError(
            f"config file '{p}' is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SaganError(
            f"cannot read config file '{p}': {getattr(e, 'strerror', None) or e}"
        ) from None
    if isinstance(d, dict):
        for key in INFORMATIVE:
            d.pop(key, None)
    check_config_dict(TrainConfig, d, f"'{p}'", nested={"model": ModelConfig})
    return d


RESOLVED = "resolved"  # config.json's record of what "auto" settings became on this machine
DEPARTURES = "departures_from_official"  # and of the options the official code lacks
INFORMATIVE = (RESOLVED, DEPARTURES)  # written for readers, dropped when a config is read


def save_config(cfg: TrainConfig, path: str, resolved: dict[str, Any] | None = None) -> None:
    """Write the config as indented JSON, with two keys for readers: ``resolved``, what its
    "auto" settings became (a resumed run resolves them again), and
    ``departures_from_official``, ``TrainConfig.departures``."""
    d = cfg.to_dict()
    d[DEPARTURES] = cfg.departures()
    if resolved:
        d[RESOLVED] = resolved
    with open(path, "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
