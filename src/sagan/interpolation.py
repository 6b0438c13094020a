"""Walks through G's inputs: spherical interpolation in z at a fixed class, and linear
interpolation between two classes' conditioning at a fixed z; written as a GIF or a strip.

Each frame is generated alone (batch 1), so its pixels do not depend on the number of
frames, and the end frames are exactly ``G.sample`` at the end points.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sagan.errors import SaganError

MIN_TILE = 64  # small images are enlarged (nearest) so frames are easy to look at
FRAME_MS = 120
PADDING = 2


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float) -> torch.Tensor:
    """slerp(z0, z1; t) = sin((1 - t) w) / sin(w) z0 + sin(t w) / sin(w) z1,
    with w = arccos(z0 . z1 / (|z0| |z1|)) the angle between them.

    Computed in float64; at t = 0 and t = 1 it returns z0 and z1 exactly. Nearly parallel
    end points (sin w ~ 0) fall back to the straight line (1 - t) z0 + t z1.
    """
    a, b = z0.double(), z1.double()
    cos = (a @ b / (a.norm() * b.norm())).clamp(-1.0, 1.0)
    omega = float(torch.arccos(cos))
    if abs(math.sin(omega)) < 1e-6:
        out = (1.0 - t) * a + t * b
    else:
        s = math.sin(omega)
        out = (math.sin((1.0 - t) * omega) / s) * a + (math.sin(t * omega) / s) * b
    return out.to(z0.dtype)


def class_mix(a: int, b: int, t: float, num_classes: int) -> torch.Tensor:
    """w(t) = (1 - t) e_a + t e_b: class weights [K] that move linearly from a to b.

    G's conditional batch norm uses w @ gamma and w @ beta (``sagan.models.layers.class_rows``),
    so w(0) and w(1) give exactly the images of labels a and b.
    """
    w = torch.zeros(num_classes)
    w[a] += 1.0 - t
    w[b] += t
    return w


def frame_times(steps: int) -> list[float]:
    """t_i = i / (steps - 1): steps points from exactly 0 to exactly 1."""
    if steps < 2:
        raise SaganError(f"--steps must be at least 2 (the two end points), got {steps}")
    return [i / (steps - 1) for i in range(steps)]


@torch.no_grad()
def interpolation_frames(
    G: nn.Module, classes: list[int], steps: int, seed: int = 0
) -> tuple[torch.Tensor, list[str]]:
    """Frames [rows, steps, 3, R, R] in [-1, 1] and a label per row.

    Row 0: z from z0 to z1 (two draws of ``seed``) along the great circle, at class
    classes[0] (no class when unconditional). Row 1, when two classes are given: the
    conditioning from classes[0] to classes[1] at z0.
    """
    device = next(G.parameters()).device
    z0, z1 = torch.randn(2, G.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
    k = G.cfg.num_classes
    label = torch.tensor([classes[0]], device=device) if k else None
    ts = frame_times(steps)
    was_training = G.training
    G.eval()
    try:
        rows = [torch.cat([G(slerp(z0, z1, t)[None].to(device), label) for t in ts])]
        labels = [f"z slerp, class {classes[0]}" if k else "z slerp"]
        if len(classes) == 2:
            a, b = classes
            z = z0[None].to(device)
            rows.append(torch.cat([G(z, class_mix(a, b, t, k)[None].to(device)) for t in ts]))
            labels.append(f"class {a} -> {b}")
    finally:
        G.train(was_training)
    return torch.stack(rows).float().cpu(), labels


def enlarge(images: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour enlargement by a whole factor to at least MIN_TILE pixels."""
    if images.shape[-1] >= MIN_TILE:
        return images
    return F.interpolate(images, scale_factor=-(-MIN_TILE // images.shape[-1]), mode="nearest")


def save_interpolation(frames: torch.Tensor, path: Path) -> None:
    """A .png strip (one row per walk, one column per step) or a .gif (one frame per step,
    the walks side by side), in uint8 quantised as saved samples are."""
    from torchvision.utils import make_grid

    from sagan.metrics.digits import quantize

    rows, steps = frames.shape[:2]
    tiles = enlarge(quantize(frames.flatten(0, 1)).float()).to(torch.uint8)  # [NCHW]
    tmp = Path(path).with_name(f".tmp-{Path(path).name}")
    try:
        if Path(path).suffix.lower() == ".gif":
            _save_gif(tiles.view(rows, steps, *tiles.shape[1:]), tmp)
        else:
            from PIL import Image

            strip = make_grid(tiles, nrow=steps, padding=PADDING).permute(1, 2, 0).numpy()
            Image.fromarray(strip).save(tmp, "PNG")
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SaganError(f"cannot write '{path}': {e.strerror or e}") from None


def _save_gif(tiles: torch.Tensor, path: Path) -> None:
    """tiles [rows, steps, 3, H, W] uint8: frame i puts step i of every row side by side."""
    from PIL import Image
    from torchvision.utils import make_grid

    frames = [
        Image.fromarray(
            make_grid(tiles[:, i], nrow=tiles.shape[0], padding=PADDING).permute(1, 2, 0).numpy()
        )
        for i in range(tiles.shape[1])
    ]
    frames[0].save(
        path, format="GIF", save_all=True, append_images=frames[1:], duration=FRAME_MS, loop=0
    )
