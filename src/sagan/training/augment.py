"""Differentiable augmentation for limited data: DiffAugment's transforms (Zhao et al.,
NeurIPS 2020), each applied to an image with probability p, which adaptive augmentation
(ADA; Karras et al., NeurIPS 2020) adjusts during training.

D only ever sees augmented images, real and fake alike: the D step augments both, the G
step augments G's samples, and the gradients flow back through the transforms to G. Not
part of the official SAGAN code: off unless ``--diffaugment`` names a policy.

The random draws of a batch come from a CPU generator (saved in checkpoints, so a resumed
run draws the same) and are drawn for the global batch, so the streams do not depend on
the number of processes. Images are [B, C, H, W] in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def adjust_brightness(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x' = x + (b - 1/2), b ~ U[0, 1) per image [B]."""
    return x + (b.to(x.dtype) - 0.5)[:, None, None, None]


def adjust_saturation(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """x' = (x - mean_c(x)) * 2s + mean_c(x), s ~ U[0, 1) per image; mean over channels."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (2 * s.to(x.dtype))[:, None, None, None] + mean


def adjust_contrast(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """x' = (x - mean_chw(x)) * (c + 1/2) + mean_chw(x), c ~ U[0, 1) per image."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (c.to(x.dtype) + 0.5)[:, None, None, None] + mean


def translate(x: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, pad: int) -> torch.Tensor:
    """x'[i, j] = x[i - ty, j - tx], zero where that falls outside the image.

    tx, ty are integer shifts [B] in pixels (positive: right and down), |shift| <= pad.
    """
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = torch.arange(h, device=x.device)[None, :] - ty[:, None] + pad  # [B, H]
    cols = torch.arange(w, device=x.device)[None, :] - tx[:, None] + pad  # [B, W]
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # [NCHW]


def cutout(x: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, size: int) -> torch.Tensor:
    """x' = x * m, with m = 0 on the size x size square whose corner is (cx, cy) - size // 2
    (clipped to the image) and 1 elsewhere. cx, cy are integer centres [B]."""
    _, _, h, w = x.shape
    rows = torch.arange(h, device=x.device)[None, :] - (cy[:, None] - size // 2)  # [B, H]
    cols = torch.arange(w, device=x.device)[None, :] - (cx[:, None] - size // 2)  # [B, W]
    inside = ((rows >= 0) & (rows < size))[:, :, None] & ((cols >= 0) & (cols < size))[:, None]
    return x * (~inside).to(x.dtype)[:, None]


@dataclass(frozen=True)
class Augment:
    """A DiffAugment policy with its translation and cutout ratios (of the image side)."""

    policy: tuple[str, ...]
    translation_ratio: float = 0.125
    cutout_ratio: float = 0.5

    @property
    def enabled(self) -> bool:
        """Whether any transform is in the policy."""
        return bool(self.policy)

    def draw(self, n: int, size: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """The random draws of ``n`` images of side ``size``, each [K, n] (the images last):
        one U[0, 1) per transform and image to compare with p, and each transform's
        parameters."""
        draws = {"apply": torch.rand(len(self.policy), n, generator=gen)}
        if "color" in self.policy:
            draws["color"] = torch.rand(3, n, generator=gen)
        if "translation" in self.policy:
            shift = int(size * self.translation_ratio + 0.5)
            draws["translation"] = torch.randint(-shift, shift + 1, (2, n), generator=gen)
        if "cutout" in self.policy:
            cut = int(size * self.cutout_ratio + 0.5)
            draws["cutout"] = torch.randint(0, size + (1 - cut % 2), (2, n), generator=gen)
        return draws

    def __call__(
        self, x: torch.Tensor, draws: dict[str, torch.Tensor], p: torch.Tensor | float
    ) -> torch.Tensor:
        """x with each transform applied to the images whose draw is below p.

        p = 0 returns x unchanged, p = 1 is plain DiffAugment. ``draws`` are this batch's
        (``draw``), already on x's device.
        """
        size = x.shape[-1]
        for k, word in enumerate(self.policy):
            if word == "color":
                b, s, c = draws["color"]
                out = adjust_contrast(adjust_saturation(adjust_brightness(x, b), s), c)
            elif word == "translation":
                shift = int(size * self.translation_ratio + 0.5)
                out = translate(x, draws["translation"][0], draws["translation"][1], shift)
            else:
                cut = int(size * self.cutout_ratio + 0.5)
                out = cutout(x, draws["cutout"][0], draws["cutout"][1], cut)
            chosen = (draws["apply"][k] < p)[:, None, None, None]
            x = torch.where(chosen, out, x)
        return x


def ada_update(p: torch.Tensor, r_t: torch.Tensor, target: float, step: float) -> torch.Tensor:
    """p <- clip(p + sign(r_t - target) * step, 0, 1), with r_t = E[sign(D(x_real))].

    ``step`` is (images seen per adjustment) / (images for p to go from 0 to 1), ADA's
    N * B / (ada_kimg * 1000).
    """
    return (p + torch.sign(r_t - target) * step).clamp(0.0, 1.0)


class AdaptiveProbability:
    """The augmentation probability p: fixed, or adapted by ``ada_update`` every
    ``interval`` D steps from the sign of D's outputs on the real images seen since.

    p, the running sums and r_t stay on the training device, so training never waits for
    them; ``reduce`` sums a tensor over processes (identity on one process).
    """

    def __init__(
        self,
        p0: float,
        target: float | None,
        interval: int,
        step: float,
        device: torch.device,
        reduce=lambda t: t,
    ) -> None:
        self.target, self.interval, self.step_size, self.reduce = target, interval, step, reduce
        self.p = torch.tensor(float(p0), device=device)
        self.r_t = torch.tensor(0.0, device=device)
        self._signs = torch.zeros(2, device=device)  # sum of sign(D(x_real)), count
        self._seen = 0

    @property
    def adaptive(self) -> bool:
        """Whether p follows a target."""
        return self.target is not None

    def observe(self, real_logits: torch.Tensor) -> None:
        """Count the signs of one D step's real logits; adjust p after ``interval`` steps."""
        if not self.adaptive:
            return
        logits = real_logits.detach().float()
        self._signs[0] += torch.sign(logits).sum()
        self._signs[1] += logits.numel()
        self._seen += 1
        if self._seen % self.interval == 0:
            total = self.reduce(self._signs.clone())
            self.r_t = total[0] / total[1]
            self.p = ada_update(self.p, self.r_t, self.target, self.step_size)
            self._signs.zero_()

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """p, r_t, the partial sums and the step count, for checkpoints."""
        return {"p": self.p, "r_t": self.r_t, "signs": self._signs, "seen": self._seen}

    def load_state_dict(self, state: dict[str, torch.Tensor | int]) -> None:
        """Restore what ``state_dict`` saved."""
        self.p = state["p"].to(self.p.device)
        self.r_t = state["r_t"].to(self.p.device)
        self._signs = state["signs"].to(self.p.device).clone()
        self._seen = int(state["seen"])
