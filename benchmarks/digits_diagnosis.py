"""What a digits generator's digits-FID is made of, checkpoint by checkpoint.

For each checkpoint (or run folder: its newest checkpoint) it draws the samples the
training summary scores (as many as held-out digits, classes uniform, seed 0) and prints:

- ``fid``: digits-FID against the real training digits, as ``summary.json`` reports it,
  split into its mean term ||mu_f - mu_r||^2 and the rest (the covariance term);
- ``acc``: the digits classifier's accuracy on the samples;
- ``diversity``: the mean pixel distance (grayscale in [0, 1], 16x16) between two samples
  of the same class, averaged over the classes: low values mean mode collapse;
- at 16x16 only, ``residual``: how far samples are from the 64-dimensional subspace of
  bilinear 8x8 upscales that the real digits lie in, and ``fid_projected``, the FID after
  projecting the samples onto it.

The held-out real digits come first, as the floor.

    python benchmarks/digits_diagnosis.py RUN_OR_CKPT [RUN_OR_CKPT ...] [--ema]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from sagan.commands.common import generator_from_checkpoint, resolve_checkpoint
from sagan.data.digits import DigitsDataset
from sagan.metrics.features import DigitsExtractor
from sagan.metrics.fid import feature_statistics, frechet_distance
from sagan.metrics.sources import generator_batches

RES = 16  # the classifier's resolution: pixel measures are taken there


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("ckpts", nargs="+", metavar="RUN_OR_CKPT")
    p.add_argument("--ema", action="store_true", help="score G_ema where a checkpoint has one")
    return p.parse_args()


def gray16(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB [N, 3, R, R] -> grayscale [N, 256] in [0, 1] at 16x16."""
    x = images.float().div(255.0).mean(dim=1, keepdim=True)
    if x.shape[-1] != RES:
        x = F.interpolate(x, size=(RES, RES), mode="bilinear")
    return x.flatten(1)


def upscale_projector() -> torch.Tensor:
    """[256, 256] projector onto the span of bilinear 8x8 -> 16x16 upscales."""
    basis = torch.eye(64).reshape(64, 1, 8, 8)
    up = F.interpolate(basis, size=(RES, RES), mode="bilinear", align_corners=False)
    up = up.reshape(64, RES * RES).T
    return up @ torch.linalg.pinv(up)


class Yardstick:
    """The real training digits' feature statistics and the classifier."""

    def __init__(self) -> None:
        self.extractor = DigitsExtractor()
        train = DigitsDataset(RES, "train")
        self.mu, self.sigma = feature_statistics(self.features(train.images)[0])
        self.projector = upscale_projector()

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = [self.extractor(b) for b in images.split(500)]
        return torch.cat([f for f, _ in out]), torch.cat([lg for _, lg in out])

    def fid(self, feats: torch.Tensor) -> tuple[float, float]:
        """(FID, its mean term) against the training digits."""
        mu, sigma = feature_statistics(feats)
        return frechet_distance(mu, sigma, self.mu, self.sigma), float(((mu - self.mu) ** 2).sum())

    def report(self, name: str, images: torch.Tensor, labels: torch.Tensor) -> None:
        feats, logits = self.features(images)
        fid, mean_term = self.fid(feats)
        acc = (logits.argmax(1) == labels).float().mean().item()
        x = gray16(images)
        diversity = torch.stack(
            [torch.pdist(x[labels == c]).mean() for c in labels.unique()]
        ).mean()
        line = (
            f"{name}: fid {fid:.2f} (mean term {mean_term:.2f}, covariance term "
            f"{fid - mean_term:.2f}), acc {acc:.3f}, diversity {diversity:.3f}"
        )
        if images.shape[-1] == RES:
            projected = (x @ self.projector.T).clamp(0, 1)
            residual = (x - x @ self.projector.T).norm(dim=1).mean().item()
            as_uint8 = (projected * 255).round().to(torch.uint8).reshape(-1, 1, RES, RES)
            fid_p, _ = self.fid(self.features(as_uint8.expand(-1, 3, -1, -1))[0])
            line += f", residual {residual:.3f}, fid_projected {fid_p:.2f}"
        print(line)


def main() -> None:
    args = parse_args()
    yard = Yardstick()
    heldout = DigitsDataset(RES, "heldout")
    yard.report("held-out real digits", heldout.images, heldout.labels)
    for path in args.ckpts:
        where, ckpt = resolve_checkpoint(path)
        G = generator_from_checkpoint(ckpt, use_ema=args.ema).eval()
        batches = list(generator_batches(G, len(heldout), 120, seed=0, progress=False))
        images = torch.cat([b for b, _ in batches])
        labels = torch.cat([y for _, y in batches])
        yard.report(str(where), images, labels)


if __name__ == "__main__":
    main()
