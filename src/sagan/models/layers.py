"""Spectrally normalised layers, conditional batch norm and Xavier initialisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm


class FP32SpectralNorm(_SpectralNorm):
    """``torch.nn.utils.parametrizations.spectral_norm``'s parametrization, with autocast
    off: the power iteration and sigma stay fp32 under bf16 autocast (on CUDA, autocast
    would otherwise run its matrix-vector products in bf16). Same state_dict keys."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=weight.device.type, enabled=False):
            return super().forward(weight.float())


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectrally normalise ``module.weight`` with one power iteration per step.

    W_SN = W / sigma(W), with sigma(W) estimated by one power iteration each training
    forward pass (the official code's ``spectral_normed_weight`` with num_iters=1), as
    ``spectral_norm(module, n_power_iterations=1)`` but always in fp32.
    """
    if enabled:
        parametrize.register_parametrization(
            module, "weight", FP32SpectralNorm(module.weight, n_power_iterations=1, dim=0)
        )
    return module


def conv3x3(c_in: int, c_out: int, sn: bool, bias: bool = True) -> nn.Module:
    """3x3 'SAME' convolution, Xavier-initialised, optionally spectrally normalised."""
    return maybe_sn(xavier(nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)), sn)


def conv1x1(c_in: int, c_out: int, sn: bool, bias: bool = True) -> nn.Module:
    """1x1 convolution, Xavier-initialised, optionally spectrally normalised."""
    return maybe_sn(xavier(nn.Conv2d(c_in, c_out, 1, bias=bias)), sn)


def linear(c_in: int, c_out: int, sn: bool, bias: bool = True) -> nn.Module:
    """Fully connected layer, Xavier-initialised, optionally spectrally normalised."""
    return maybe_sn(xavier(nn.Linear(c_in, c_out, bias=bias)), sn)


def embedding(num: int, dim: int, sn: bool) -> nn.Module:
    """Class embedding (the projection discriminator's), Xavier-initialised."""
    return maybe_sn(xavier(nn.Embedding(num, dim)), sn)


def xavier(module: nn.Module) -> nn.Module:
    """Xavier-uniform weights and zero biases, as TensorFlow's xavier_initializer."""
    nn.init.xavier_uniform_(module.weight)
    bias = getattr(module, "bias", None)
    if bias is not None:
        nn.init.zeros_(bias)
    return module


def class_rows(table: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A per-class table's rows for labels or class weights: e_y = table[y], or
    e_w = sum_k w_k table[k] = w @ table for weights w [N, K].

    One-hot weights give exactly the label's row (every other term is an exact zero),
    so mixing classes (interpolation) needs no second code path.
    """
    if y.is_floating_point():
        return y.to(table.dtype) @ table
    return F.embedding(y, table)


def conditional_batch_norm(
    x_hat: torch.Tensor, gamma_y: torch.Tensor, beta_y: torch.Tensor
) -> torch.Tensor:
    """CBN(x, y) = gamma_y * x_hat + beta_y, with x_hat = (x - mu_B) / sqrt(var_B + eps).

    x_hat is [N, C, H, W]; gamma_y and beta_y are the per-class rows [N, C].
    """
    return x_hat * gamma_y[:, :, None, None] + beta_y[:, :, None, None]


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without affine, then a per-class gamma (init 1) and beta (init 0).

    y is labels [N] or class weights [N, K] (see ``class_rows``). With
    ``num_classes == 0`` it is an ordinary affine BatchNorm (unconditional G).
    """

    def __init__(self, channels: int, num_classes: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(channels, eps=eps, affine=num_classes == 0)
        if num_classes > 0:
            self.gamma = nn.Embedding(num_classes, channels)
            self.beta = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.gamma.weight)
            nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        x_hat = self.bn(x)
        if self.num_classes == 0:
            return x_hat
        gamma_y = class_rows(self.gamma.weight, y)
        return conditional_batch_norm(x_hat, gamma_y, class_rows(self.beta.weight, y))
