"""The architecture's typed, frozen configuration: ``ModelConfig``.

It is validated once, when it is built; every error says what to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sagan.config_check import check_config_dict
from sagan.errors import SaganError

AttnVariant = Literal["official", "paper"]
SNMode = Literal["both", "d", "g", "none"]

BASE_RESOLUTION = 4  # G starts from a 4x4 map, D ends on one, as in the official code.
DIGITS_CLASSES = 10  # the digits classifier behind class_accuracy knows these classes


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


def model_config_from_dict(d: dict[str, Any], source: str = "the model config") -> ModelConfig:
    """Rebuild a ModelConfig from a dict, rejecting unknown keys and wrong types."""
    check_config_dict(ModelConfig, d, source, partial=False, prefix="model.")
    return ModelConfig(**d)
