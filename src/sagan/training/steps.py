"""One D update and one G update: the two phases of a training iteration."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

import torch
from torch import nn

from sagan.losses import d_hinge_loss_fake, d_hinge_loss_real, g_hinge_loss

if TYPE_CHECKING:
    from sagan.training.limited_data import LimitedData

Guard = Callable[[str, torch.Tensor, nn.Module], None]


def forward_precision(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """Autocast to ``dtype`` for the forward passes (None: plain fp32). Losses are fp32
    either way (``sagan.losses`` casts the logits), and so is spectral norm."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def d_step(
    G: nn.Module,
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    x_real: torch.Tensor,
    y_real: torch.Tensor | None,
    z: torch.Tensor,
    y_fake: torch.Tensor | None,
    guard: Guard | None = None,
    autocast_dtype: torch.dtype | None = None,
    extras: LimitedData | None = None,
) -> dict[str, torch.Tensor]:
    """Minimise L_D on a real batch and G(z) (no autograd graph for G).

    Real and fake images go through D in one pass, so SN's power iteration runs once per
    D step, as the official code's single update per step. ``guard`` checks the loss and
    gradients before the update (see ``sagan.training.guard``). ``extras`` (limited-data
    options, not in the official code) augments both halves and adds the LeCam term.
    """
    with forward_precision(x_real.device, autocast_dtype):
        with torch.no_grad():
            x_fake = G(z, y_fake).to(x_real.dtype)
        if extras is not None:
            x_real, x_fake = extras.images(x_real), extras.images(x_fake)
        y_all = torch.cat([y_real, y_fake]) if y_real is not None else None
        x_all = torch.cat([x_real, x_fake])
        if x_real.is_contiguous(memory_format=torch.channels_last):
            x_all = x_all.contiguous(memory_format=torch.channels_last)
        logits = D(x_all, y_all)
        n = x_real.shape[0]
        loss_real = d_hinge_loss_real(logits[:n])
        loss_fake = d_hinge_loss_fake(logits[n:])
    d_loss = loss_real + loss_fake  # L_D = d_hinge_loss(real, fake), kept in parts for the log
    penalty = extras.d_penalty(logits[:n], logits[n:]) if extras is not None else None
    total = d_loss if penalty is None else d_loss + penalty
    opt_d.zero_grad(set_to_none=True)
    total.backward()
    if guard is not None:
        guard("d_loss", total, D)
    opt_d.step()
    out = {
        "d_loss": d_loss.detach(),
        "d_loss_real": loss_real.detach(),
        "d_loss_fake": loss_fake.detach(),
    }
    if penalty is not None:
        out["d_lecam"] = penalty.detach()
    return out


def g_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    z: torch.Tensor,
    y_fake: torch.Tensor | None,
    guard: Guard | None = None,
    autocast_dtype: torch.dtype | None = None,
    extras: LimitedData | None = None,
) -> torch.Tensor:
    """Minimise L_G. D is in eval mode, so its SN vectors stay put (official NO_OPS).

    Pass D itself, not a DistributedDataParallel wrapper: only G's gradients are synced.
    With ``extras`` D sees G's samples augmented, and the gradients pass back through the
    augmentation to G.
    """
    D.eval().requires_grad_(False)
    try:
        with forward_precision(z.device, autocast_dtype):
            x_fake = G(z, y_fake)
            if extras is not None:
                x_fake = extras.images(x_fake)
            g_loss = g_hinge_loss(D(x_fake, y_fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        if guard is not None:
            guard("g_loss", g_loss, G)
        opt_g.step()
    finally:
        D.train().requires_grad_(True)
    return g_loss.detach()
