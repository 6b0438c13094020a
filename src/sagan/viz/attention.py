"""Attention maps of the paper's Figures 1 and 5: where a query position looks.

For each query point (a coloured dot on the image) the figure shows that query's
attention map over the image, upsampled to image size, and an arrow of the query's
colour to its most-attended location.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

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


def draw_attention_row(
    axes, image: torch.Tensor, beta: torch.Tensor, queries: list[int], label: str = ""
) -> None:
    """Fill one row of axes: the image with queries and arrows, then one heat map per query."""
    size = image.shape[-1]
    rgb = ((image.float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).cpu().numpy()
    axes[0].imshow(rgb, interpolation="nearest")
    if label:
        axes[0].set_ylabel(label, fontsize=9)
    for j, q in enumerate(queries):
        colour = COLOURS[j % len(COLOURS)]
        qx, qy = query_pixel(q, beta.shape[0], size)
        heat = upsampled_map(beta[q], size)
        ty, tx = np.unravel_index(int(heat.argmax()), heat.shape)
        axes[0].plot(qx - 0.5, qy - 0.5, "o", color=colour, markersize=7, markeredgecolor="white")
        axes[0].annotate(
            "",
            xy=(tx, ty),
            xytext=(qx - 0.5, qy - 0.5),
            arrowprops=dict(arrowstyle="->", color=colour, lw=1.8),
        )
        ax = axes[j + 1]
        ax.imshow(rgb, interpolation="nearest")
        ax.imshow(heat, cmap="inferno", alpha=0.65, interpolation="bilinear")
        ax.plot(qx - 0.5, qy - 0.5, "o", color=colour, markersize=7, markeredgecolor="white")
        ax.set_title(f"query {j + 1}", color=colour, fontsize=9)
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
):
    """Several (image, map, queries, label) rows on one sheet."""
    cols = max(len(r[2]) for r in rows) + 1
    fig, axes = plt.subplots(
        len(rows), cols, figsize=(2.6 * cols, 2.7 * len(rows) + 0.3), squeeze=False
    )
    for ax_row, (image, beta, queries, label) in zip(axes, rows):
        draw_attention_row(ax_row, image, beta, queries, label)
        for ax in ax_row[len(queries) + 1 :]:
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


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
