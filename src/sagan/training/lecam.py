"""LeCam regularisation's anchors: moving averages of D's outputs (Tseng et al., CVPR 2021).

Not part of the official SAGAN code: off unless ``--lecam WEIGHT`` is given. The anchors
stay on the training device, so updating them never makes training wait.
"""

from __future__ import annotations

import torch


def ema_update(average: torch.Tensor, value: torch.Tensor, decay: float) -> torch.Tensor:
    """alpha <- decay * alpha + (1 - decay) * value."""
    return average * decay + value * (1.0 - decay)


class LeCamAnchors:
    """alpha_R and alpha_F, the averages of E[D(x)] and E[D(G(z))] over D steps.

    Before D step ``start`` the decay is 0, so the anchors are the current batch means (as
    in the published code, whose averages start at step 1000); from then on ``decay``.
    """

    def __init__(self, decay: float, start: int, device: torch.device) -> None:
        self.decay, self.start = decay, start
        self.real = torch.zeros((), device=device)
        self.fake = torch.zeros((), device=device)
        self.steps = 0

    def update(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> None:
        """Fold one D step's mean outputs into the anchors."""
        decay = self.decay if self.steps >= self.start else 0.0
        self.real = ema_update(self.real, real_logits.detach().float().mean(), decay)
        self.fake = ema_update(self.fake, fake_logits.detach().float().mean(), decay)
        self.steps += 1

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """The anchors and the D-step count, for checkpoints."""
        return {"real": self.real, "fake": self.fake, "steps": self.steps}

    def load_state_dict(self, state: dict[str, torch.Tensor | int]) -> None:
        """Restore what ``state_dict`` saved."""
        self.real = state["real"].to(self.real.device)
        self.fake = state["fake"].to(self.fake.device)
        self.steps = int(state["steps"])
