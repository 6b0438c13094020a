"""Hinge losses of the paper (section 3), one named function per equation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_hinge_loss_real(real_logits: torch.Tensor) -> torch.Tensor:
    """E_x[relu(1 - D(x, y))]: the real half of L_D."""
    return F.relu(1.0 - real_logits.float()).mean()


def d_hinge_loss_fake(fake_logits: torch.Tensor) -> torch.Tensor:
    """E_z[relu(1 + D(G(z), y))]: the fake half of L_D."""
    return F.relu(1.0 + fake_logits.float()).mean()


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = E[relu(1 - D(x, y))] + E[relu(1 + D(G(z), y))]."""
    return d_hinge_loss_real(real_logits) + d_hinge_loss_fake(fake_logits)


def g_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_G = -E[D(G(z), y)]."""
    return -fake_logits.float().mean()


def lecam_regulariser(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    anchor_real: torch.Tensor,
    anchor_fake: torch.Tensor,
) -> torch.Tensor:
    """R_LC = E[relu(D(x) - alpha_F)^2] + E[relu(alpha_R - D(G(z)))^2] (Tseng et al., CVPR 2021).

    alpha_R and alpha_F are moving averages of D's mean output on real and on fake images
    (``sagan.training.lecam``); they are constants here (no gradient flows into them).
    """
    real, fake = real_logits.float(), fake_logits.float()
    return (
        F.relu(real - anchor_fake.detach()).pow(2).mean()
        + F.relu(anchor_real.detach() - fake).pow(2).mean()
    )
