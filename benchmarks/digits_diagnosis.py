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
  projecting the samples onto it;
- ``z share``: per residual block of G, the within-class share of its output's variance
  (what z, not the class, makes of the features); it falls as samples collapse within
  their class.

The held-out real digits come first, as the floor.

    python benchmarks/digits_diagnosis.py RUN_OR_CKPT [RUN_OR_CKPT ...] [--ema] [--figure PNG]
        [--names A,B,...]

``--figure`` draws the held-out digits and each checkpoint's samples side by side, a few
per class, titled with their digits-FID and z share.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from sagan.config import DIGITS_CLASSES
from sagan.data.digits import DigitsDataset
from sagan.metrics.features import DigitsExtractor
from sagan.metrics.fid import feature_statistics, frechet_distance
from sagan.metrics.sources import generator_batches
from sagan.pretrained import generator_from_checkpoint, resolve_checkpoint

RES = 16  # the classifier's resolution: pixel measures are taken there


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("ckpts", nargs="+", metavar="RUN_OR_CKPT")
    p.add_argument("--ema", action="store_true", help="score G_ema where a checkpoint has one")
    p.add_argument("--figure", metavar="PNG", help="also draw the samples, real digits first")
    p.add_argument("--per-class", type=int, default=8, help="samples per class in the figure")
    p.add_argument(
        "--names",
        help="comma-separated names for the checkpoints' panels in the figure (default: their steps)",
    )
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

    def report(self, name: str, images: torch.Tensor, labels: torch.Tensor) -> float:
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
        return fid


@torch.no_grad()
def z_share(G: torch.nn.Module, per_class: int = 36) -> list[float]:
    """Within-class share of the variance of each G block's output, classes uniform."""
    k = G.cfg.num_classes
    y = torch.arange(k).repeat_interleave(per_class)
    z = torch.randn(len(y), G.cfg.z_dim, generator=torch.Generator().manual_seed(0))
    outs: list[torch.Tensor] = []
    hooks = [b.register_forward_hook(lambda m, i, o: outs.append(o)) for b in G.blocks]
    try:
        G(z, y)
    finally:
        for h in hooks:
            h.remove()
    shares = []
    for o in outs:
        o = o.flatten(1).reshape(k, per_class, -1)
        within = o.var(dim=1).mean()
        between = o.mean(dim=1).var(dim=0).mean()
        shares.append(float(within / (within + between)))
    return shares


def class_rows(images: torch.Tensor, labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """A grid image [3, H, W]: one row of ``per_class`` images for each class."""
    rows = [images[labels == c][:per_class] for c in labels.unique()]
    return make_grid(torch.cat(rows), nrow=per_class, padding=1, pad_value=128)


def draw(panels: list[tuple[str, torch.Tensor]], path: str) -> None:
    """Save the grids side by side, each under its title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.4), squeeze=False)
    try:
        for ax, (title, grid) in zip(axes[0], panels):
            ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(path, dpi=150, bbox_inches="tight")
    finally:
        plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    args = parse_args()
    yard = Yardstick()
    heldout = DigitsDataset(RES, "heldout")
    fid = yard.report("held-out real digits", heldout.images, heldout.labels)
    panels = [
        (
            f"held-out real digits\nFID {fid:.1f}",
            class_rows(heldout.images, heldout.labels, args.per_class),
        )
    ]
    names = args.names.split(",") if args.names else []
    if names and len(names) != len(args.ckpts):
        raise SystemExit(f"--names gives {len(names)} names for {len(args.ckpts)} checkpoints")
    for i, path in enumerate(args.ckpts):
        where, ckpt = resolve_checkpoint(path)
        G = generator_from_checkpoint(ckpt, use_ema=args.ema).eval()
        if G.cfg.num_classes != DIGITS_CLASSES:
            raise SystemExit(f"{where}: not a model of the {DIGITS_CLASSES} digit classes")
        batches = list(generator_batches(G, len(heldout), 120, seed=0, progress=False))
        images = torch.cat([b for b, _ in batches])
        labels = torch.cat([y for _, y in batches])
        fid = yard.report(str(where), images, labels)
        shares = ", ".join(f"{v:.2f}" for v in z_share(G))
        print(f"  z share per G block: {shares}")
        name = f"{names[i]}, step {ckpt['step']}" if names else f"step {ckpt['step']}"
        title = f"{name}\nFID {fid:.1f}, z share {shares}"
        panels.append((title, class_rows(images, labels, args.per_class)))
    if args.figure:
        draw(panels, args.figure)


if __name__ == "__main__":
    main()
