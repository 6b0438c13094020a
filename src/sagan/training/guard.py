"""Divergence detection: a non-finite loss or an exploding gradient stops the update."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


class Diverged(Exception):
    """Raised between backward and the optimizer step, so the bad update is never applied."""


def total_grad_norm(params: Iterable[nn.Parameter]) -> torch.Tensor:
    """||g||_2 over all gradients of ``params`` (as one vector), in fp32."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch >= 2.6
        return torch.nn.utils.get_total_norm(grads, norm_type=2.0).float()
    return torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])
    )


def make_guard(
    limit: float, any_rank: Callable[[bool], bool]
) -> Callable[[str, torch.Tensor, nn.Module], None]:
    """A check run after each backward: the loss must be finite and ||grad|| <= ``limit``.

    ``any_rank`` combines the verdict over processes, so all ranks roll back together.
    """

    def guard(name: str, loss: torch.Tensor, net: nn.Module) -> None:
        norm = total_grad_norm(net.parameters())
        values = torch.stack([loss.detach().float().reshape(()), norm.to(loss.device)]).tolist()
        loss_v, norm_v = values
        bad = not (loss_v == loss_v and abs(loss_v) != float("inf"))
        reason = f"{name} is {loss_v}" if bad else ""
        if not bad and not norm_v <= limit:  # catches NaN and Inf norms too
            bad, reason = True, f"the gradient norm of {name} is {norm_v:.3g} (limit {limit:g})"
        if any_rank(bad):
            raise Diverged(reason or f"another process saw a bad {name}")

    return guard
