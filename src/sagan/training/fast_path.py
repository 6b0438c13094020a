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

from sagan.models.attention import SelfAttention
from sagan.models.blocks import DBlock, DOptimizedBlock, GBlock

# CPU defaults: eager NCHW. Measured (benchmarks/RESULTS.md): convolutions are 88% of a
# CPU iteration and channels_last gains nothing there (1.40x vs 1.41x over the reference);
# compile could only fuse the remaining element-wise work, and its warm-up would cost the
# short digits demo more than it saves.
CPU_COMPILE = False
CPU_CHANNELS_LAST = False


@dataclass(frozen=True)
class Speed:
    """The resolved switches of one run (or one benchmark)."""

    precision: str  # "fp32" or "bf16"
    compile: bool
    channels_last: bool
    reference: bool
    fused_resampling: bool = True

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


def resolve_speed(
    precision: str,
    compile: str,
    channels_last: str,
    reference: bool,
    device: torch.device,
    fused_resampling: str = "auto",
) -> Speed:
    """Concrete switches for ``device``: on CUDA bf16 + compile + channels_last, on CPU
    fp32 with the measured CPU defaults, fused resampling on both; ``reference`` turns
    everything off."""
    if reference:
        return Speed("fp32", False, False, True, fused_resampling=False)
    cuda = device.type == "cuda"

    def pick(value: str, cuda_default: bool, cpu_default: bool) -> bool:
        return {"on": True, "off": False}.get(value, cuda_default if cuda else cpu_default)

    return Speed(
        precision=precision if precision != "auto" else ("bf16" if cuda else "fp32"),
        compile=pick(compile, True, CPU_COMPILE),
        channels_last=pick(channels_last, True, CPU_CHANNELS_LAST),
        reference=False,
        fused_resampling=pick(fused_resampling, True, True),
    )


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
