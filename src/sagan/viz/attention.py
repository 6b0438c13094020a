"""Attention maps of the paper's Figures 1 and 5: where a query position looks.

For each query point (a coloured dot on the image) the figure shows that query's
attention map over the image, upsampled to image size, and an arrow of the query's
colour to its most-attended location.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sagan.models.generator import truncated_normal

FIGURE_DPI = 110  # every attention figure, saved by `sagan attention` or downloaded from the page
COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45")


def grid_side(n: int) -> int:
    """Side of a square grid of n positions."""
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"{n} positions do not form a square grid")
    return side


def query_pixel(index: int, n_queries: int, image_size: int) -> tuple[float, float]:
    """Centre (x, y) in image pixels of query ``index`` on its square feature grid."""
    side = grid_side(n_queries)
    cell = image_size / side
    return ((index % side + 0.5) * cell, (index // side + 0.5) * cell)


def pixel_query(x: float, y: float, n_queries: int, image_size: int) -> int:
    """The query index whose feature-grid cell holds image pixel (x, y)."""
    side = grid_side(n_queries)
    col = min(side - 1, max(0, int(x * side / image_size)))
    row = min(side - 1, max(0, int(y * side / image_size)))
    return row * side + col


def pick_queries(beta: torch.Tensor, k: int = 4) -> list[int]:
    """Queries that attend to different places: greedy, least similar maps first.

    beta is one image's map [N, N_keys]. The first query is the most peaked one; each
    next one has the smallest largest cosine similarity to the maps already chosen.
    """
    maps = F.normalize(beta.float(), dim=1)
    chosen = [int(beta.max(dim=1).values.argmax())]
    while len(chosen) < min(k, len(beta)):
        sim = (maps @ maps[chosen].T).max(dim=1).values
        sim[chosen] = float("inf")
        chosen.append(int(sim.argmin()))
    return chosen


def upsampled_map(row: torch.Tensor, image_size: int) -> np.ndarray:
    """One query's map over the key grid [N_keys], bilinearly resized to the image."""
    side = grid_side(row.numel())
    m = row.float().reshape(1, 1, side, side)
    return F.interpolate(m, size=(image_size, image_size), mode="bilinear", align_corners=False)[
        0, 0
    ].numpy()


def image_rgb(image: torch.Tensor) -> np.ndarray:
    """An image [3, H, W] in [-1, 1] as an [H, W, 3] array in [0, 1] for imshow."""
    return ((image.float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).cpu().numpy()


def most_attended(row: torch.Tensor, image_size: int) -> tuple[int, int]:
    """Pixel (x, y) where one query's upsampled map peaks: the head of its arrow."""
    heat = upsampled_map(row, image_size)
    y, x = np.unravel_index(int(heat.argmax()), heat.shape)
    return int(x), int(y)


def draw_queries(ax, beta: torch.Tensor, queries: list[int], image_size: int) -> None:
    """On an axis that shows the image: each query's dot, and an arrow of its colour to
    its most-attended location (the paper's Figure 1)."""
    for j, q in enumerate(queries):
        colour = COLOURS[j % len(COLOURS)]
        qx, qy = query_pixel(q, beta.shape[0], image_size)
        tx, ty = most_attended(beta[q], image_size)
        ax.plot(qx - 0.5, qy - 0.5, "o", color=colour, markersize=7, markeredgecolor="white")
        ax.annotate(
            "",
            xy=(tx, ty),
            xytext=(qx - 0.5, qy - 0.5),
            arrowprops=dict(arrowstyle="->", color=colour, lw=1.8),
        )


def draw_query_map(ax, rgb: np.ndarray, beta: torch.Tensor, q: int, j: int) -> None:
    """One panel: the image under query q's upsampled map, with the query's dot."""
    size, colour = rgb.shape[0], COLOURS[j % len(COLOURS)]
    qx, qy = query_pixel(q, beta.shape[0], size)
    ax.imshow(rgb, interpolation="nearest")
    ax.imshow(upsampled_map(beta[q], size), cmap="inferno", alpha=0.65, interpolation="bilinear")
    ax.plot(qx - 0.5, qy - 0.5, "o", color=colour, markersize=7, markeredgecolor="white")
    ax.set_title(f"query {j + 1}", color=colour, fontsize=9)


def draw_attention_row(
    axes, image: torch.Tensor, beta: torch.Tensor, queries: list[int], label: str = ""
) -> None:
    """Fill one row of axes: the image with queries and arrows, then one heat map per query."""
    rgb = image_rgb(image)
    axes[0].imshow(rgb, interpolation="nearest")
    if label:
        axes[0].set_ylabel(label, fontsize=9)
    draw_queries(axes[0], beta, queries, rgb.shape[0])
    for j, q in enumerate(queries):
        draw_query_map(axes[j + 1], rgb, beta, q, j)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def attention_figure(image: torch.Tensor, beta: torch.Tensor, queries: list[int], title: str = ""):
    """Image with coloured queries and arrows, then one heat map per query.

    image is [3, H, W] in [-1, 1]; beta is its map [N, N_keys] from one attention layer.
    Returns the matplotlib figure.
    """
    return attention_grid_figure([(image, beta, queries, "")], title)


def attention_grid_figure(
    rows: list[tuple[torch.Tensor, torch.Tensor, list[int], str]], title: str = ""
) -> Figure:
    """Several (image, map, queries, label) rows on one sheet.

    The figure is not registered with pyplot, so a long-running process that draws many
    of them keeps none alive.
    """
    cols = max(len(r[2]) for r in rows) + 1
    fig = Figure(figsize=(2.6 * cols, 2.7 * len(rows) + 0.3))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for ax_row, (image, beta, queries, label) in zip(axes, rows):
        draw_attention_row(ax_row, image, beta, queries, label)
        for ax in ax_row[len(queries) + 1 :]:
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def image_view(image: torch.Tensor, beta: torch.Tensor | None, queries: list[int], pixels: int):
    """The image alone, nearest-upscaled to pixels x pixels, with queries and arrows drawn
    as in the figure's first panel; returned as an RGB array [pixels, pixels, 3] uint8.

    The image fills the whole array, so array pixel p is image pixel p * R / pixels.
    """
    rgb = image_rgb(image)
    size = rgb.shape[0]
    fig = Figure(figsize=(pixels / 100, pixels / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgb, interpolation="nearest")
    if beta is not None:
        draw_queries(ax, beta, queries, size)
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    ax.axis("off")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, exactly as ``save_figure`` writes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write the figure (PNG, PDF, SVG, ... by the suffix) at the figures' resolution."""
    fig.savefig(path, dpi=FIGURE_DPI)


def latent(z_dim: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """The z [1, z_dim] of ``seed``: N(0, I) from torch.Generator().manual_seed(seed), with
    entries over ``truncation`` redrawn when it is given."""
    return truncated_normal((1, z_dim), truncation, torch.Generator().manual_seed(seed))


@torch.no_grad()
def image_and_maps(
    G,
    D=None,
    cls: int = 0,
    seed: int = 0,
    truncation: float | None = None,
    image: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One image [3, R, R] in [-1, 1] and its attention maps {layer: [N, N_keys]} (CPU).

    The image is G's sample of (``cls``, ``seed``, ``truncation``), or ``image`` when it
    is given. The maps are G's when D is None, otherwise D's on that image with label
    ``cls``. Both networks must be in eval mode; layers whose block is the residual
    stand-in have no map.
    """
    device = next(G.parameters()).device
    y = torch.tensor([cls], device=device) if G.cfg.num_classes else None
    if image is None:
        z = latent(G.cfg.z_dim, seed, truncation).to(device)
        out, maps = G(z, y, return_attention=True)
        image = out[0]
    if D is not None:
        _, maps = D(image[None].to(device), y, return_attention=True)
    return image.float().cpu(), {k: v[0].float().cpu() for k, v in maps.items()}


@torch.no_grad()
def generator_attention_figure(
    G, z: torch.Tensor, y: torch.Tensor | None, layer: str | None = None, k: int = 4
):
    """Figure for G's first sample of (z, y) at ``layer`` (default: the last attention layer).

    Returns (figure, layer name, maps of that layer for the first image, queries), or
    None when G has no attention layer.
    """
    if not len(G.attn):
        return None
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    img, maps = G(z[:1].to(device), None if y is None else y[:1].to(device), return_attention=True)
    G.train(was_training)
    if not maps:
        return None
    layer = layer or max(maps, key=lambda name: int(name[4:]))
    beta = maps[layer][0].cpu()
    queries = pick_queries(beta, k)
    fig = attention_figure(img[0].cpu(), beta, queries, title=f"G {layer}")
    return fig, layer, beta, queries
