"""The resampling convolutions of the residual blocks, literal or fused.

G's up-blocks compute ``conv3x3(upsample2(h))`` and D's down-blocks
``avgpool2(conv3x3(h))``. Both are linear maps of h, so each equals a single convolution
at the lower resolution whose kernel is built from the same 3x3 weights: a stride-2
transposed convolution for the up-block, a stride-2 convolution for the down-block. The
fused forms give the same function and the same gradients (up to float rounding, about
1e-6 relative) with 16 multiply-adds per low-resolution pixel instead of 36. The parameters,
their spectral normalisation and the state_dict are untouched; the reference path
(``--reference``) runs the literal ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _up_taps(w: torch.Tensor, dim: int) -> torch.Tensor:
    """Upsample-then-3x3 along one axis as 4 transposed-convolution taps: output row 2i
    reads input rows (i - 1, i) with weights (w0, w1 + w2), row 2i + 1 reads (i, i + 1)
    with (w0 + w1, w2); in transposed-kernel order the taps are (w2, w1 + w2, w0 + w1, w0)."""
    w0, w1, w2 = w.unbind(dim)
    return torch.stack((w2, w1 + w2, w0 + w1, w0), dim)


def upsample_conv_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The 4x4 transposed-convolution kernel [C_in, C_out, 4, 4] of conv3x3(upsample2(.)).

    K[i, o] = T W[o, i] T^T, with T the [4, 3] tap matrix of ``_up_taps``. Built from sums
    of weights only, so it keeps the weight's precision under autocast.
    """
    return _up_taps(_up_taps(weight, 2), 3).transpose(0, 1)


def upsample_conv3x3(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """y = conv3x3(upsample2_nearest(x)), 'SAME' zero padding, computed at x's resolution.

    y = conv_transpose2d(x, K, stride 2, padding 1) + bias, with K from
    ``upsample_conv_kernel``: y[o, 2i - 1 + u, 2j - 1 + v] += K[:, o, u, v] . x[:, i, j].
    """
    return F.conv_transpose2d(x, upsample_conv_kernel(weight), bias, stride=2, padding=1)


def conv3x3_avgpool_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The 4x4 kernel of avgpool2(conv3x3(.)): K[u, v] = 1/4 sum_{a,b in {0,1}} W[u - a, v - b].

    Built from sums of weights only, so it keeps the weight's precision under autocast.
    """
    p = F.pad(weight, (1, 1, 1, 1))  # W[u - a, v - b] with zeros outside 0..2
    return (p[..., 1:, 1:] + p[..., :-1, 1:] + p[..., 1:, :-1] + p[..., :-1, :-1]) * 0.25


def conv3x3_avgpool(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """y = avgpool2(conv3x3(x)), 'SAME' zero padding, as one stride-2 4x4 convolution.

    y[o, i, j] = sum_{u,v < 4} K[o, :, u, v] . x[:, 2i + u - 1, 2j + v - 1] + bias[o], with
    K from ``conv3x3_avgpool_kernel`` and x zero outside its borders (padding 1).
    """
    return F.conv2d(x, conv3x3_avgpool_kernel(weight), bias, stride=2, padding=1)


def upsample(x: torch.Tensor) -> torch.Tensor:
    """2x nearest-neighbour upsampling, as the official code's up-blocks use."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def up_conv(conv: nn.Module, x: torch.Tensor, fused: bool) -> torch.Tensor:
    """conv(upsample2(x)) for a 3x3 or 1x1 ``conv`` (SN'd or not), literal or fused.

    Fused: a 1x1 conv commutes with nearest upsampling, so it runs first, on 4x fewer
    pixels; a 3x3 conv runs as ``upsample_conv3x3``.
    """
    if not fused:
        return conv(upsample(x))
    if conv.kernel_size == (1, 1):
        return upsample(conv(x))
    return upsample_conv3x3(x, conv.weight, conv.bias)


def conv_down(conv: nn.Module, x: torch.Tensor, fused: bool) -> torch.Tensor:
    """avgpool2(conv(x)) for a 3x3 or 1x1 ``conv`` (SN'd or not), literal or fused.

    Fused: a 1x1 conv commutes with average pooling, so it runs after it, on 4x fewer
    pixels; a 3x3 conv runs as ``conv3x3_avgpool``.
    """
    if not fused:
        return F.avg_pool2d(conv(x), 2)
    if conv.kernel_size == (1, 1):
        return conv(F.avg_pool2d(x, 2))
    return conv3x3_avgpool(x, conv.weight, conv.bias)
