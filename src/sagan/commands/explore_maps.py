"""The explore page's tables as HTML: the attention layers, and each query's raw map.

Every raw map is shown as a small greyscale image over its key grid, with a known
scale (pixel = round(255 * beta / max beta)), and carries its exact values in data
attributes, so what the page shows can be read back and checked against
``sagan attention``'s .npz.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import torch

from sagan.models.attention import SelfAttention
from sagan.viz.attention import COLOURS, grid_side, most_attended, pixel_query

CARD_PIXELS = 96  # on-screen side of a raw map; the PNG itself has one pixel per key


def encode_map(row: torch.Tensor) -> tuple[np.ndarray, float]:
    """One query's map [N_keys] as a [side, side] uint8 image and its maximum:
    pixel = round(255 * beta / max beta), so beta = pixel / 255 * max to within max / 510."""
    values = row.float().cpu().numpy()
    top = float(values.max())
    scaled = np.rint(255.0 * values / top) if top > 0 else np.zeros_like(values)
    side = grid_side(values.size)
    return scaled.astype(np.uint8).reshape(side, side), top


def png_data_uri(pixels: np.ndarray) -> str:
    """A uint8 greyscale image as a data: URI (inline, so the page fetches nothing)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def exact(values: np.ndarray) -> str:
    """Float32 values as the shortest decimals that read back to the same float32."""
    return ",".join(np.format_float_positional(np.float32(v), unique=True) for v in values)


def key_grid(net, layer: str) -> str:
    """'4x4 keys (2x2 max-pooled)' or '8x8 keys (full)' for a site of the network."""
    side = int(layer[4:])
    block = net.attn[layer]
    if not isinstance(block, SelfAttention):
        return "none: a residual block replaces attention here"
    if block.variant == "official":
        return f"{side // 2}x{side // 2} (2x2 max-pooled)"
    return f"{side}x{side} (full)"


def layer_rows_html(net_name: str, net) -> str:
    """A table of the network's attention sites: name, gamma, query grid, key grid."""
    rows = []
    for layer in sorted(net.attn, key=lambda n: int(n[4:])):
        side, gamma = int(layer[4:]), float(net.attn[layer].gamma.detach())
        rows.append(
            f'<tr data-layer="{layer}" data-gamma="{gamma!r}"><td>{net_name} {layer}</td>'
            f"<td>{gamma:.4f}</td><td>{side}x{side}</td><td>{html.escape(key_grid(net, layer))}</td></tr>"
        )
    if not rows:
        rows.append(f'<tr><td colspan="4">{net_name} has no attention layer</td></tr>')
    head = "<tr><th>site</th><th>gamma</th><th>query grid</th><th>key grid</th></tr>"
    return f'<table id="sagan-layer-table">{head}{"".join(rows)}</table>'


def _card(
    layer: str, slot: int, point: tuple[float, float], q: int, row: torch.Tensor, R: int
) -> str:
    pixels, top = encode_map(row)
    tx, ty = most_attended(row, R)
    colour = COLOURS[slot % len(COLOURS)]
    x, y = point
    attrs = {
        "layer": layer,
        "slot": slot,
        "x": repr(float(x)),
        "y": repr(float(y)),
        "query": q,
        "side": pixels.shape[0],
        "max": exact(np.asarray([top])),
        "values": exact(row.float().cpu().numpy()),
        "target": f"{tx},{ty}",
    }
    data = " ".join(f'data-{k}="{html.escape(str(v))}"' for k, v in attrs.items())
    caption = (
        f"query {slot + 1} at ({x:.1f}, {y:.1f}), {layer}: max {top:.3f}, "
        f"most attended pixel ({tx}, {ty})"
    )
    return (
        f'<figure class="sagan-map" {data}>'
        f'<img src="{png_data_uri(pixels)}" width="{CARD_PIXELS}" height="{CARD_PIXELS}" '
        f'alt="{html.escape(caption)}" style="image-rendering: pixelated; border: 3px solid {colour}">'
        f'<figcaption style="color: {colour}">{html.escape(caption)}</figcaption></figure>'
    )


def map_cards_html(
    head: dict[str, str],
    layers: dict[str, torch.Tensor],
    points: tuple[tuple[float, float], ...],
) -> str:
    """One card per (layer, query): the raw map, white where it peaks.

    ``layers`` maps each layer to its map [N, N_keys]; ``points`` are the queries in image
    pixels, turned into indices on each layer's query grid.
    """
    R = int(head["resolution"])
    cards = []
    for layer, beta in layers.items():
        for slot, (x, y) in enumerate(points):
            q = pixel_query(x, y, beta.shape[0], R)
            cards.append(_card(layer, slot, (x, y), q, beta[q], R))
    attrs = " ".join(f'data-{k}="{html.escape(v)}"' for k, v in head.items())
    hint = "" if cards else "<p>Click the image to place a query (up to 4).</p>"
    return (
        f'<div id="sagan-map-cards" data-count="{len(cards)}" {attrs}>{hint}{"".join(cards)}</div>'
    )
