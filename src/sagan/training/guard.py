"""Divergence detection: a non-finite loss or an exploding gradient rolls the run back.

Each backward's loss and gradient norm are checked on the training device and the verdicts
are kept there; ``DivergenceGuard.read`` brings them to the host in one transfer. The
training loop reads them only where it needs the host anyway (log, sample, evaluation and
checkpoint steps, and the end), so on a GPU the steps in between never wait for the
device. A bad update may therefore be applied and trained on for a few steps, but it never
reaches a checkpoint, a sample grid or a metric: the read before each of them raises
``Diverged``, and the loop rolls back to the newest checkpoint, which was read clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


class Diverged(Exception):
    """A loss or gradient norm went bad at ``step``."""

    def __init__(self, reason: str, step: int) -> None:
        super().__init__(reason)
        self.step = step


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


class DivergenceGuard:
    """Called after each backward as ``guard(name, loss, net)``; ``read`` raises ``Diverged``
    for the first bad check since the last read (on every rank when any rank saw one).

    A check is bad when the loss is not finite or ||grad|| exceeds ``limit`` (a NaN or Inf
    norm counts as exceeding it).
    """

    def __init__(self, limit: float, any_rank: Callable[[bool], bool]) -> None:
        self.limit, self.any_rank = limit, any_rank
        self.step = 0  # the step the next checks belong to (set by the loop)
        self._pending: list[tuple[int, str, torch.Tensor]] = []

    def __call__(self, name: str, loss: torch.Tensor, net: nn.Module) -> None:
        norm = total_grad_norm(net.parameters()).to(loss.device)
        self._pending.append(
            (self.step, name, torch.stack([loss.detach().float().reshape(()), norm]))
        )

    def read(self) -> None:
        """Bring the pending verdicts to the host (one transfer) and forget them."""
        pending, self._pending = self._pending, []
        reason, step = "", 0
        if pending:
            values = torch.stack([v for _, _, v in pending]).tolist()
            for (at, name, _), (loss_v, norm_v) in zip(pending, values):
                if not (loss_v == loss_v and abs(loss_v) != float("inf")):
                    reason, step = f"{name} is {loss_v}", at
                elif not norm_v <= self.limit:
                    reason = f"the gradient norm of {name} is {norm_v:.3g} (limit {self.limit:g})"
                    step = at
                if reason:
                    break
        if self.any_rank(bool(reason)):
            raise Diverged(
                reason or "another process saw a bad loss or gradient", step or self.step
            )

    def discard(self) -> None:
        """Drop unread checks (after a rollback they belong to undone steps)."""
        self._pending = []
