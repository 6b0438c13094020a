"""The self-attention block (paper eq. 1-3, official ``sn_non_local_block_sim``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sagan.models.layers import conv1x1, conv3x3


def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """s_ij = f(x_i)^T g(x_j), with no 1/sqrt(d) scaling.

    q is [B, N, C_qk] (queries f), k is [B, N_k, C_qk] (keys g); returns [B, N, N_k].
    """
    return q @ k.transpose(-2, -1)


def attention_map(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """beta = softmax(s) over the keys: each query's row sums to 1. Returns [B, N, N_k]."""
    return torch.softmax(attention_scores(q, k), dim=-1)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """o_j = sum_i beta_{j,i} h(x_i), fused, so no N x N_k matrix is kept.

    q [B, N, C_qk], k [B, N_k, C_qk], v [B, N_k, C_v] -> [B, N, C_v]. The scale is 1,
    as in the paper and the official code. Inputs are made contiguous first: with strided
    ones (the transposed conv outputs) PyTorch falls back to the math kernel, which keeps
    the N x N_k matrix for backward (on CPU at least). On CPU the fused kernel also needs
    one width for q, k and v, so q and k are zero-padded to v's (the scores are unchanged).
    """
    pad = v.shape[-1] - q.shape[-1]
    if q.device.type == "cpu" and pad > 0:
        q, k = F.pad(q, (0, pad)), F.pad(k, (0, pad))
    q, k, v = (t.contiguous()[:, None] for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    return out[:, 0]


def gated_residual(x: torch.Tensor, o: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """y = gamma * o + x, with the learnable scalar gamma initialised to 0."""
    return gamma * o + x


def attention_weight_count(channels: int, variant: str) -> int:
    """Number of conv weights in a SelfAttention block of width C (gamma excluded)."""
    c_qk = channels // 8
    c_v = channels // 2 if variant == "official" else channels // 8
    return 2 * channels * c_qk + 2 * channels * c_v


class SelfAttention(nn.Module):
    """Self-attention over all positions of a feature map.

    ``variant="official"``: queries and keys have C/8 channels, values C/2; keys and
    values are 2x2 max-pooled to N/4 positions; a 1x1 conv maps C/2 back to C.
    ``variant="paper"``: full-resolution keys and values, all with C/8 channels.
    All convs are bias-free 1x1, Xavier-initialised and optionally spectrally normalised.
    """

    def __init__(self, channels: int, variant: str = "official", sn: bool = True) -> None:
        super().__init__()
        self.variant = variant
        c_qk = channels // 8
        c_v = channels // 2 if variant == "official" else channels // 8
        self.query = conv1x1(channels, c_qk, sn, bias=False)  # f, theta in the code
        self.key = conv1x1(channels, c_qk, sn, bias=False)  # g, phi in the code
        self.value = conv1x1(channels, c_v, sn, bias=False)  # h, g in the code
        self.out = conv1x1(c_v, channels, sn, bias=False)  # v, attn in the code
        self.gamma = nn.Parameter(torch.zeros(()))  # sigma_ratio in the code
        # The reference path: softmax(q k^T) @ v with the N x N_k map kept (not in state).
        self.materialise = False

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Apply the block to x [B, C, H, W]; optionally also return beta [B, N, N_k]."""
        b, _, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # [B, N, C_qk]
        k, v = self.key(x), self.value(x)
        if self.variant == "official":
            k, v = F.max_pool2d(k, 2), F.max_pool2d(v, 2)
        k = k.flatten(2).transpose(1, 2)  # [B, N_k, C_qk]
        v = v.flatten(2).transpose(1, 2)  # [B, N_k, C_v]
        if return_attention or self.materialise:
            beta = attention_map(q, k)
            o = beta @ v
        else:
            o = attend(q, k, v)
        o = self.out(o.transpose(1, 2).reshape(b, -1, h, w))
        y = gated_residual(x, o, self.gamma)
        return (y, beta) if return_attention else y


class ResidualInsteadOfAttention(nn.Module):
    """A local residual block with the attention block's parameter budget (Table 1).

    y = gamma * conv1x1(relu(conv3x3(relu(x)))) + x, with hidden width chosen so the
    weights match the attention block's: C/8 for the official variant (exactly
    1.25 C^2 + 1 parameters), C/20 rounded for the paper's (0.5 C^2 + 1, approximately).
    """

    def __init__(self, channels: int, variant: str = "official", sn: bool = True) -> None:
        super().__init__()
        attn_weights = attention_weight_count(channels, variant)
        hidden = max(1, round(attn_weights / (10 * channels)))
        self.conv1 = conv3x3(channels, hidden, sn, bias=False)
        self.conv2 = conv1x1(hidden, channels, sn, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.conv2(F.relu(self.conv1(F.relu(x))))
        return gated_residual(x, o, self.gamma)
