"""The SAGAN projection discriminator (official ``discriminator_test``, generalised)."""

from __future__ import annotations

import torch
from torch import nn

from sagan.config import ModelConfig
from sagan.models.blocks import DBlock, DOptimizedBlock
from sagan.models.generator import attention_sites, make_attention, run_attention
from sagan.models.layers import embedding, linear


def projection_logit(psi: torch.Tensor, h: torch.Tensor, embed_y: torch.Tensor) -> torch.Tensor:
    """D(x, y) = psi(h) + sum_k h_k * E(y)_k, with h = sum-pooled relu features.

    psi is the unconditional logit [B, 1], h [B, C] and embed_y [B, C]; returns [B].
    """
    return psi[:, 0] + (h * embed_y).sum(dim=1)


class Discriminator(nn.Module):
    """image x [B, 3, R, R] and class y [B] -> logit [B].

    An optimized first block, pre-activation down-blocks with attention after the first
    block of each size in ``cfg.attn_d``, then ReLU, global sum pooling, an SN-linear
    to 1 and the projection term with an SN-embedding of the class.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        sn = cfg.sn in ("both", "d")
        ch, down = cfg.d_channels, cfg.d_downsample
        blocks: list[nn.Module] = [DOptimizedBlock(3, ch[0], sn)]
        blocks += [DBlock(ch[i - 1], ch[i], down[i], sn) for i in range(1, len(ch))]
        self.blocks = nn.ModuleList(blocks)
        self.attn = nn.ModuleDict(
            {f"feat{s}": make_attention(ch[cfg.d_sizes.index(s)], cfg, sn) for s in cfg.attn_d}
        )
        self.attn_sites = attention_sites(cfg.d_sizes, cfg.attn_d)
        self.linear = linear(ch[-1], 1, sn)
        self.embed = embedding(cfg.num_classes, ch[-1], sn) if cfg.num_classes > 0 else None

    def features(
        self, x: torch.Tensor, maps: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """h = sum over positions of relu(last block output): [B, C]."""
        h = x  # [NCHW]
        for block, site in zip(self.blocks, self.attn_sites):
            h = block(h)
            if site is not None:
                keep = maps is not None
                h = run_attention(self.attn[site], h, site, maps if keep else {}, keep)
        return torch.relu(h).sum(dim=(2, 3))

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits [B]; with ``return_attention`` also the maps {layer: [B, N, N_k]}."""
        maps: dict[str, torch.Tensor] | None = {} if return_attention else None
        h = self.features(x, maps)
        psi = self.linear(h)
        out = psi[:, 0] if self.embed is None else projection_logit(psi, h, self.embed(y))
        return (out, maps) if return_attention else out
