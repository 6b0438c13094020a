"""One D update and one G update: the two phases of a training iteration."""

from __future__ import annotations

import torch
from torch import nn

from sagan.losses import d_hinge_loss_fake, d_hinge_loss_real, g_hinge_loss


def d_step(
    G: nn.Module,
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    x_real: torch.Tensor,
    y_real: torch.Tensor | None,
    z: torch.Tensor,
    y_fake: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """Minimise L_D on a real batch and G(z) (no autograd graph for G).

    Real and fake images go through D in one pass, so SN's power iteration runs once per
    D step, as the official code's single update per step.
    """
    with torch.no_grad():
        x_fake = G(z, y_fake)
    y_all = torch.cat([y_real, y_fake]) if y_real is not None else None
    logits = D(torch.cat([x_real, x_fake]), y_all)
    n = x_real.shape[0]
    loss_real = d_hinge_loss_real(logits[:n])
    loss_fake = d_hinge_loss_fake(logits[n:])
    d_loss = loss_real + loss_fake  # L_D = d_hinge_loss(real, fake), kept in parts for the log
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return {
        "d_loss": d_loss.detach(),
        "d_loss_real": loss_real.detach(),
        "d_loss_fake": loss_fake.detach(),
    }


def g_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    z: torch.Tensor,
    y_fake: torch.Tensor | None,
) -> torch.Tensor:
    """Minimise L_G. D is in eval mode, so its SN vectors stay put (official NO_OPS)."""
    D.eval().requires_grad_(False)
    try:
        g_loss = g_hinge_loss(D(G(z, y_fake), y_fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    finally:
        D.train().requires_grad_(True)
    return g_loss.detach()
