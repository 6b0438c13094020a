"""A run's limited-data options in one place: DiffAugment with probability p (fixed, or
adapted as in ADA) and LeCam regularisation of D.

None of them is in the official SAGAN code; with all of them off (the default of every
preset but ``digits``) ``LimitedData.from_config`` returns None and the training steps are
exactly the official ones. Their state (p, the ADA sums, the LeCam anchors and the
augmentation generator) goes into every checkpoint, so a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

from sagan.config import TrainConfig, parse_policy
from sagan.losses import lecam_regulariser
from sagan.training.augment import AdaptiveProbability, Augment
from sagan.training.distributed import World
from sagan.training.lecam import LeCamAnchors
from sagan.training.state import to_device


def _sum_over(world: World) -> Callable[[torch.Tensor], torch.Tensor]:
    def reduce(t: torch.Tensor) -> torch.Tensor:
        if world.distributed:
            dist.all_reduce(t)
        return t

    return reduce


class LimitedData:
    """Augments D's inputs and adds the LeCam term to L_D, as the run's config says."""

    def __init__(self, cfg: TrainConfig, device: torch.device, world: World) -> None:
        self.world, self.device = world, device
        self.augment = Augment(
            parse_policy(cfg.diffaugment), cfg.translation_ratio, cfg.cutout_ratio
        )
        adaptive = cfg.ada_target is not None
        images_per_adjustment = cfg.batch * cfg.ada_interval
        self.prob = AdaptiveProbability(
            cfg.augment_p if cfg.augment_p is not None else (0.0 if adaptive else 1.0),
            cfg.ada_target,
            cfg.ada_interval,
            images_per_adjustment / (cfg.ada_kimg * 1000),
            device,
            _sum_over(world),
        )
        self.lecam_weight = cfg.lecam
        self.anchors = LeCamAnchors(cfg.lecam_decay, cfg.lecam_start, device) if cfg.lecam else None
        self.gen = torch.Generator().manual_seed(cfg.seed + 3)

    @classmethod
    def from_config(
        cls, cfg: TrainConfig, device: torch.device, world: World
    ) -> LimitedData | None:
        """The run's limited-data options, or None when they are all off."""
        if not parse_policy(cfg.diffaugment) and not cfg.lecam:
            return None
        return cls(cfg, device, world)

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's images [B, C, H, W] augmented with draws made for the global batch."""
        if not self.augment.enabled:
            return x
        draws = self.augment.draw(x.shape[0] * self.world.size, x.shape[-1], self.gen)
        draws = {k: to_device(self._shard(v), self.device) for k, v in draws.items()}
        out = self.augment(x, draws, self.prob.p)
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)  # keep the fast path's layout
        return out

    def d_penalty(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor | None:
        """After one D forward pass: adapt p from the real logits, update the LeCam anchors
        and return lambda * R_LC (None without LeCam)."""
        self.prob.observe(real_logits)
        if self.anchors is None:
            return None
        means = torch.stack(
            [real_logits.detach().float().mean(), fake_logits.detach().float().mean()]
        )
        if self.world.distributed:
            dist.all_reduce(means)
            means = means / self.world.size
        self.anchors.update(means[0], means[1])
        reg = lecam_regulariser(real_logits, fake_logits, self.anchors.real, self.anchors.fake)
        return self.lecam_weight * reg

    def stats(self) -> dict[str, torch.Tensor]:
        """The values worth logging, as device tensors (read them only when logging)."""
        out: dict[str, torch.Tensor] = {}
        if self.augment.enabled:
            out["augment_p"] = self.prob.p
            if self.prob.adaptive:
                out["ada_r_t"] = self.prob.r_t
        if self.anchors is not None:
            out["lecam_anchor_real"] = self.anchors.real
            out["lecam_anchor_fake"] = self.anchors.fake
        return out

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly."""
        return {
            "prob": self.prob.state_dict(),
            "lecam": self.anchors.state_dict() if self.anchors is not None else None,
            "gen": self.gen.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved."""
        self.prob.load_state_dict(state["prob"])
        if self.anchors is not None and state.get("lecam") is not None:
            self.anchors.load_state_dict(state["lecam"])
        self.gen.set_state(state["gen"])

    def _shard(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's images of draws [K, n_global] (the images last)."""
        if not self.world.distributed:
            return t
        per = t.shape[-1] // self.world.size
        return t[..., self.world.rank * per : (self.world.rank + 1) * per]
