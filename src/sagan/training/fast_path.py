"""The fast training path and its switches: precision, torch.compile, channels_last.

``resolve_speed`` turns a run's "auto" settings into concrete choices for its device once,
at the start of the run; ``prepare`` and ``Compiled`` apply them to G and D. The reference path
(``--reference``) is fp32, eager, contiguous NCHW, materialises each attention map and runs
the blocks' upsample/pool convolutions literally (``sagan.models.resample``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sagan.config import BASE_RESOLUTION, ModelConfig
from sagan.models.attention import SelfAttention
from sagan.models.blocks import DBlock, DOptimizedBlock, GBlock

# CPU defaults: eager NCHW fp32, or bf16 autocast where the CPU computes bf16 natively and
# the model is large enough to gain from it. Measured (benchmarks/RESULTS.md): convolutions
# are most of a CPU iteration; on a CPU with AMX-BF16, bf16 autocast with channels_last
# makes cifar32 2.6x as fast as fp32 (3.25x the reference), while the digits model's
# steps are mostly per-op overhead and gain 1.15-1.17x a step but 6% of the demo's time,
# for a worse score over three seeds (docs/limited-data.md): it stays fp32.
# compile could only fuse the remaining element-wise work, and its warm-up would cost the
# short digits demo more than it saves.
CPU_COMPILE = False
CPU_CHANNELS_LAST = False  # fp32: channels_last gained nothing (1.40x vs 1.41x)
CPU_BF16_CHANNELS_LAST = True  # bf16: oneDNN's bf16 kernels want NHWC
CPU_BF16_MIN_WORK = 100_000_000  # multiply-adds per image; digits 2e7, cifar32 1.6e9


def cpu_bf16_support() -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively, from torch's CPU capability queries, and
    the instruction set that says so (AMX-BF16 or AVX512-BF16)."""
    cpu = torch.cpu
    if getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return True, "AMX-BF16"
    if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
        return True, "AVX512-BF16"
    return False, f"{torch.backends.cpu.get_cpu_capability()} without bf16 instructions"


def conv_work(model: ModelConfig) -> int:
    """Multiply-adds per image of G's and D's 3x3 convolutions (the bulk of both networks):
    9 * C_in * C_out * H * W for each of the two convolutions of every residual block."""
    total, size = 0, BASE_RESOLUTION
    g = model.g_channels
    for c_in, c_out in zip(g[:-1], g[1:]):
        size *= 2
        total += 9 * size * size * (c_in * c_out + c_out * c_out)
    size, c_in = model.resolution, 3
    for c_out, down in zip(model.d_channels, model.d_downsample):
        total += 9 * size * size * (c_in * c_out + c_out * c_out)
        size, c_in = (size // 2 if down else size), c_out
    return total


@dataclass(frozen=True)
class Speed:
    """The resolved switches of one run (or one benchmark)."""

    precision: str  # "fp32" or "bf16"
    compile: bool
    channels_last: bool
    reference: bool
    fused_resampling: bool = True
    why: str = ""  # how the precision was chosen, for the log and config.json

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype of the forward passes, or None for plain fp32."""
        return torch.bfloat16 if self.precision == "bf16" else None

    def describe(self) -> str:
        """A short phrase for the log, e.g. 'bf16, compiled, channels_last'."""
        if self.reference:
            return "reference path (fp32, eager, materialised attention, literal resampling)"
        parts = [self.precision, "compiled" if self.compile else "eager"]
        parts += ["channels_last"] if self.channels_last else []
        return ", ".join(parts + ([] if self.fused_resampling else ["literal resampling"]))

    def resolved(self) -> dict[str, object]:
        """What the switches resolved to, as config.json records it."""
        return {
            "precision": self.precision,
            "precision_why": self.why,
            "compile": self.compile,
            "channels_last": self.channels_last,
            "fused_resampling": self.fused_resampling,
        }


def resolve_speed(
    precision: str,
    compile: str,
    channels_last: str,
    reference: bool,
    device: torch.device,
    fused_resampling: str = "auto",
    model: ModelConfig | None = None,
) -> Speed:
    """Concrete switches for ``device``: on CUDA bf16 + compile + channels_last; on CPU
    bf16 + channels_last where the CPU computes bf16 natively and ``model`` is large
    enough (``CPU_BF16_MIN_WORK``), else fp32 NCHW; fused resampling on both;
    ``reference`` turns everything off."""
    if reference:
        return Speed("fp32", False, False, True, fused_resampling=False, why="the reference path")
    cuda = device.type == "cuda"
    chosen, why = _precision(precision, cuda, model)

    def pick(value: str, cuda_default: bool, cpu_default: bool) -> bool:
        return {"on": True, "off": False}.get(value, cuda_default if cuda else cpu_default)

    cpu_nhwc = CPU_BF16_CHANNELS_LAST if chosen == "bf16" else CPU_CHANNELS_LAST
    return Speed(
        precision=chosen,
        compile=pick(compile, True, CPU_COMPILE),
        channels_last=pick(channels_last, True, cpu_nhwc),
        reference=False,
        fused_resampling=pick(fused_resampling, True, True),
        why=why,
    )


def _precision(asked: str, cuda: bool, model: ModelConfig | None) -> tuple[str, str]:
    """The precision for ``asked`` ('auto', 'fp32' or 'bf16') and why."""
    if asked != "auto":
        return asked, f"--precision {asked}"
    if cuda:
        return "bf16", "auto: bf16 autocast on CUDA"
    native, isa = cpu_bf16_support()
    if not native:
        return "fp32", f"auto: this CPU has no native bf16 ({isa}), so bf16 would be emulated"
    work = conv_work(model) if model is not None else CPU_BF16_MIN_WORK
    if work < CPU_BF16_MIN_WORK:
        return "fp32", (
            f"auto: the CPU computes bf16 natively ({isa}), but this model is small "
            f"({work / 1e6:.0f}M multiply-adds per image): its steps are mostly per-op "
            "overhead: the digits demo in bf16 was 6% faster but scored worse (median of 3 "
            "seeds 2.62x the floor against 2.19x)"
        )
    return "bf16", f"auto: the CPU computes bf16 natively ({isa})"


_RESAMPLING_BLOCKS = (GBlock, DBlock, DOptimizedBlock)


def _set_math(module: nn.Module, materialise: bool, fused_resampling: bool) -> None:
    """Choose, in place, how every attention block and residual block in ``module`` computes."""
    for m in module.modules():
        if isinstance(m, SelfAttention):
            m.materialise = materialise
        elif isinstance(m, _RESAMPLING_BLOCKS):
            m.fused_resampling = fused_resampling


def set_reference_math(module: nn.Module, on: bool) -> None:
    """The reference path's literal math in ``module`` (or back to the fast kernels): every
    SelfAttention materialises softmax(q k^T), every residual block resamples literally."""
    _set_math(module, on, not on)


def prepare(module: nn.Module, speed: Speed) -> None:
    """Apply ``speed``'s memory format, attention kind and resampling to ``module`` in place."""
    _set_math(module, speed.reference, speed.fused_resampling)
    if speed.channels_last:
        module.to(memory_format=torch.channels_last)


class Compiled:
    """``torch.compile`` of each module asked for, once each (or the module itself when
    not compiling). Keep the original modules for state_dicts: a compiled wrapper shares
    their parameters and buffers but prefixes its keys with ``_orig_mod.``."""

    def __init__(self, speed: Speed) -> None:
        self.enabled = speed.compile
        self._done: dict[int, nn.Module] = {}

    def __call__(self, module: nn.Module) -> nn.Module:
        if not self.enabled:
            return module
        if id(module) not in self._done:
            self._done[id(module)] = torch.compile(module)
        return self._done[id(module)]


def to_memory_format(x: torch.Tensor, speed: Speed) -> torch.Tensor:
    """An image batch in the memory format the networks use."""
    return x.contiguous(memory_format=torch.channels_last) if speed.channels_last else x


def adam(
    params, lr: float, betas: tuple[float, float], device: torch.device, speed: Speed
) -> torch.optim.Adam:
    """Adam; fused on CUDA on the fast path, the plain per-tensor loop otherwise (on CPU
    that is PyTorch's own default, so CPU runs keep their numbers)."""
    if device.type == "cuda" and not speed.reference:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    return torch.optim.Adam(params, lr=lr, betas=betas)


def set_backend_flags(device: torch.device, speed: Speed) -> None:
    """cudnn.benchmark (autotuned convolutions) on CUDA's fast path."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not speed.reference
