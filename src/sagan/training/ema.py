"""Exponential moving average of G's weights (BigGAN's option; off in the official code)."""

from __future__ import annotations

import copy

import torch
from torch import nn

STANDING_BATCHES = 16
STANDING_BATCH_SIZE = 64


class EMA:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta, with buffers copied.

    The averaged weights do not match the live model's batch-norm statistics, so before
    the EMA model is sampled ``standing_stats`` re-estimates them, as BigGAN does.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current weights."""
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - self.decay)
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)

    @torch.no_grad()
    def standing_stats(self, seed: int = 0) -> nn.Module:
        """Re-estimate BN statistics of the EMA generator on fresh samples; return it in eval mode.

        Each BN layer's running mean and variance become the average over
        STANDING_BATCHES batches of the EMA model's own activations. The next ``update``
        copies the live buffers back, so training never sees these statistics.
        """
        G = self.model
        cfg = G.cfg
        bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [(m.momentum, m.weight) for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
        device = next(G.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        G.train()
        for _ in range(STANDING_BATCHES):
            z = torch.randn(STANDING_BATCH_SIZE, cfg.z_dim, generator=gen).to(device)
            y = None
            if cfg.num_classes:
                y = torch.randint(0, cfg.num_classes, (STANDING_BATCH_SIZE,), generator=gen).to(
                    device
                )
            G(z, y)
        for m, (momentum, _) in zip(bns, saved):
            m.momentum = momentum
        return G.eval()
