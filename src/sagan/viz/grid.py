"""Sample grids: one row per class, from fixed latents."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import save_image

from sagan.config import ModelConfig

GRID_COLUMNS = 8
MAX_GRID_ROWS = 10
MIN_TILE = 48  # small images are enlarged (nearest) so a grid is easy to look at


def grid_classes(num_classes: int, rows: int = MAX_GRID_ROWS) -> list[int]:
    """Up to ``rows`` classes spread evenly over all of them."""
    if num_classes <= rows:
        return list(range(num_classes))
    return [round(i * (num_classes - 1) / (rows - 1)) for i in range(rows)]


def fixed_grid_latents(cfg: ModelConfig, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fixed z and classes that every sample grid of a run uses."""
    g = torch.Generator().manual_seed(seed + 2)
    if cfg.num_classes == 0:
        return torch.randn(GRID_COLUMNS * GRID_COLUMNS, cfg.z_dim, generator=g), None
    classes = grid_classes(cfg.num_classes)
    y = torch.tensor(classes).repeat_interleave(GRID_COLUMNS)
    return torch.randn(len(y), cfg.z_dim, generator=g), y


@torch.no_grad()
def render(G: nn.Module, z: torch.Tensor, y: torch.Tensor | None, batch: int = 64) -> torch.Tensor:
    """G's images for (z, y) in eval mode, on the CPU, in [-1, 1]; G's mode is restored."""
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    out = []
    for i in range(0, len(z), batch):
        yi = None if y is None else y[i : i + batch].to(device)
        out.append(G(z[i : i + batch].to(device), yi).float().cpu())
    G.train(was_training)
    return torch.cat(out)


def save_grid(images: torch.Tensor, path: Path, columns: int = GRID_COLUMNS) -> None:
    """Write images in [-1, 1] as a PNG grid, enlarging small tiles for viewing."""
    if images.shape[-1] < MIN_TILE:
        scale = -(-MIN_TILE // images.shape[-1])
        images = F.interpolate(images, scale_factor=scale, mode="nearest")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=columns, normalize=True, value_range=(-1, 1), padding=2)


def save_sample_grid(
    G: nn.Module, z: torch.Tensor, y: torch.Tensor | None, path: Path
) -> torch.Tensor:
    """Render the fixed latents, save the grid and return the images."""
    images = render(G, z, y)
    save_grid(images, path)
    return images
