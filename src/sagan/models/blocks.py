"""Residual up-blocks of G and down-blocks of D, exactly as in the official code.

Each block's resampling convolutions run fused by default (``sagan.models.resample``:
the same function with fewer FLOPs); ``fused_resampling = False`` runs the literal ops,
as the reference path does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sagan.models.layers import ConditionalBatchNorm2d, conv1x1, conv3x3
from sagan.models.resample import conv_down, up_conv


class GBlock(nn.Module):
    """Up-block: CBN-ReLU-up-conv3x3-CBN-ReLU-conv3x3, plus up-conv1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, num_classes: int, sn: bool, eps: float) -> None:
        super().__init__()
        self.cbn0 = ConditionalBatchNorm2d(c_in, num_classes, eps)
        self.conv1 = conv3x3(c_in, c_out, sn)
        self.cbn1 = ConditionalBatchNorm2d(c_out, num_classes, eps)
        self.conv2 = conv3x3(c_out, c_out, sn)
        self.conv_sc = conv1x1(c_in, c_out, sn)
        self.fused_resampling = True  # not in state: the reference path sets it False

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        fused = self.fused_resampling
        h = up_conv(self.conv1, F.relu(self.cbn0(x, y)), fused)
        h = self.conv2(F.relu(self.cbn1(h, y)))
        return h + up_conv(self.conv_sc, x, fused)


class DBlock(nn.Module):
    """Pre-activation down-block: ReLU-conv3x3-ReLU-conv3x3-avgpool.

    The shortcut, conv1x1 then avgpool, exists when the block downsamples or changes
    width. The entry ReLU is out-of-place so the shortcut sees x itself, not relu(x).
    """

    def __init__(self, c_in: int, c_out: int, downsample: bool, sn: bool) -> None:
        super().__init__()
        self.downsample = downsample
        self.conv1 = conv3x3(c_in, c_out, sn)
        self.conv2 = conv3x3(c_out, c_out, sn)
        self.conv_sc = conv1x1(c_in, c_out, sn) if downsample or c_in != c_out else None
        self.fused_resampling = True  # not in state: the reference path sets it False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(F.relu(x)))  # the entry ReLU is out-of-place on purpose
        if not self.downsample:
            return self.conv2(h) + (x if self.conv_sc is None else self.conv_sc(x))
        fused = self.fused_resampling
        return conv_down(self.conv2, h, fused) + conv_down(self.conv_sc, x, fused)


class DOptimizedBlock(nn.Module):
    """D's first block: conv3x3-ReLU-conv3x3-avgpool, plus avgpool-conv1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, sn: bool) -> None:
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out, sn)
        self.conv2 = conv3x3(c_out, c_out, sn)
        self.conv_sc = conv1x1(c_in, c_out, sn)
        self.fused_resampling = True  # not in state: the reference path sets it False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = conv_down(self.conv2, F.relu(self.conv1(x)), self.fused_resampling)
        return h + self.conv_sc(F.avg_pool2d(x, 2))
