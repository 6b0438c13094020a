"""What the ``sagan explore`` page shows, computed without the web framework.

A ``View`` holds everything one browser tab has chosen (class, seed, truncation, mode,
network, queries); an ``Explorer`` turns a view into pictures: the large clickable
image, the figure that ``sagan attention`` draws (the page's PNG download), a table of
the attention layers and the raw map of every query.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sagan.commands.explore_maps import key_grid, layer_rows_html, map_cards_html
from sagan.errors import SaganError
from sagan.models.attention import SelfAttention
from sagan.viz.attention import (
    attention_grid_figure,
    figure_png,
    image_and_maps,
    image_view,
    latent,
    pick_queries,
    pixel_query,
    query_pixel,
)

MAX_QUERIES = 4
GRID_SAMPLES, GRID_COLUMNS, GRID_GAP = 8, 4, 4
VIEW_PIXELS = 512  # side of the large image; a grid tile is a quarter of it
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 50_000_000  # a 20 MB PNG of one colour could otherwise decode to gigabytes
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF", "PPM")
NETWORKS = {"G": "G", "D": "D, on this sample", "D upload": "D, on the uploaded image"}
CACHED_IMAGES = 8  # images with their maps, so that clicks and switches do not rerun G


@dataclass(frozen=True)
class View:
    """What one tab shows. ``points`` are the queries in image pixels (x, y), at most 4;
    a new point replaces the one in ``next_slot`` once all four are placed."""

    cls: int = 0
    seed: int = 0
    truncation: float | None = None
    mode: str = "single"  # "single": one large image; "grid": 8 samples to pick from
    network: str = "G"  # a key of NETWORKS
    layer: str | None = None  # whose arrows the large image shows
    points: tuple[tuple[float, float], ...] = ()
    next_slot: int = 0


def add_point(view: View, x: float, y: float) -> View:
    """The view with a query at image pixel (x, y): appended, or replacing the oldest."""
    points = list(view.points)
    if len(points) < MAX_QUERIES:
        return dataclasses.replace(view, points=(*points, (x, y)))
    points[view.next_slot] = (x, y)
    return dataclasses.replace(
        view, points=tuple(points), next_slot=(view.next_slot + 1) % MAX_QUERIES
    )


def attention_layers(net) -> list[str]:
    """The net's attention sites that return maps, smallest feature map first."""
    names = [n for n, m in net.attn.items() if isinstance(m, SelfAttention)]
    return sorted(names, key=lambda n: int(n[4:]))


def read_upload(path: str | Path, resolution: int) -> torch.Tensor:
    """An uploaded image file as [3, R, R] in [-1, 1], resized as training data is.

    Raises SaganError with a message for the page when the file is too large, not an
    image, or cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    from sagan.data.folder import decode_image_file, skip_reason

    size = os.path.getsize(path)
    if size > MAX_UPLOAD_BYTES:
        raise SaganError(f"the upload is {size / 2**20:.1f} MB: upload an image of at most 20 MB")
    try:
        with Image.open(path) as img:
            fmt, (width, height) = img.format, img.size
    except UnidentifiedImageError:
        raise SaganError("the upload is not a readable image") from None
    except Exception as e:  # whatever a hostile file makes Pillow raise, the page stays up
        raise SaganError(f"the upload is not a readable image ({skip_reason(e)})") from None
    if fmt not in UPLOAD_FORMATS:
        raise SaganError(f"the upload is a {fmt} image: upload PNG, JPEG, WebP, BMP, GIF or TIFF")
    if width * height > MAX_UPLOAD_PIXELS:
        raise SaganError(
            f"the upload is {width}x{height} pixels: upload an image under 50 million pixels"
        )
    try:
        pixels = decode_image_file(path, resolution)
    except Exception as e:  # truncated or corrupt pixel data
        raise SaganError(f"the upload could not be decoded ({skip_reason(e)})") from None
    return pixels.float().div(127.5).sub(1.0)


class Explorer:
    """Pictures of a generator's (and, given D, a discriminator's) attention for views."""

    def __init__(self, G, D=None, class_names: list[str] | None = None) -> None:
        self.G, self.D = G.eval(), None if D is None else D.eval()
        k = G.cfg.num_classes
        names = list(class_names) if class_names and len(class_names) == k else []
        self.class_names = names or [str(i) for i in range(k)]
        self.resolution = G.cfg.resolution
        self.layers = {"G": attention_layers(G), "D": [] if D is None else attention_layers(D)}
        self.layers["D upload"] = self.layers["D"]
        self.workdir = Path(tempfile.mkdtemp(prefix="sagan-explore-"))
        self._images: OrderedDict[tuple, tuple[torch.Tensor, dict[str, torch.Tensor]]] = (
            OrderedDict()
        )
        self._grid: tuple[tuple | None, np.ndarray | None] = (None, None)

    # What a view shows.

    def networks(self) -> list[str]:
        """The networks a view can show: G, and D when the source has it."""
        return ["G"] if self.D is None else list(NETWORKS)

    def first_view(self) -> View:
        """The page's starting view: class 0, seed 0, G's last attention layer."""
        return View(layer=(self.layers["G"] or [None])[-1])

    def image_and_maps(
        self, view: View, upload: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The view's image and maps; the last few are kept, so clicks do not rerun G."""
        uploaded = view.network == "D upload"
        if uploaded and upload is None:
            raise SaganError("no image uploaded yet: upload one for D")
        key = (view.network, view.cls, view.seed, view.truncation)
        if uploaded:
            key += (hash(upload.numpy().tobytes()),)
        if key not in self._images:
            D = None if view.network == "G" else self.D
            image = upload if uploaded else None
            self._images[key] = image_and_maps(
                self.G, D, view.cls, view.seed, view.truncation, image
            )
            while len(self._images) > CACHED_IMAGES:
                self._images.popitem(last=False)
        return self._images[key]

    def net(self, view: View):
        """The network whose attention the view shows."""
        return self.G if view.network == "G" else self.D

    def queries(self, beta: torch.Tensor, view: View) -> list[int]:
        """The view's points as query indices on the grid of the map ``beta`` [N, N_keys]."""
        return [pixel_query(x, y, beta.shape[0], self.resolution) for x, y in view.points]

    def rows(self, view: View, upload: torch.Tensor | None) -> list[tuple]:
        """One (image, map, queries, label) row per attention layer: the figure's rows."""
        image, maps = self.image_and_maps(view, upload)
        rows = []
        for layer in self.layers[view.network]:
            gamma = float(self.net(view).attn[layer].gamma.detach())
            label = f"{layer}, gamma {gamma:.3f}"
            rows.append((image, maps[layer], self.queries(maps[layer], view), label))
        return rows

    def title(self, view: View) -> str:
        """The figure's title: network, class, seed and where the image came from."""
        if view.network == "D upload":
            return f"D attention on the uploaded image (label {self.class_label(view)})"
        trunc = "" if view.truncation is None else f", truncation {view.truncation:g}"
        return (
            f"{view.network[0]} attention, {self.class_label(view)}, seed {view.seed}{trunc} "
            "(generated image)"
        )

    def class_label(self, view: View) -> str:
        """The view's class by name ('class 3', 'class cat'), or 'unconditional'."""
        return f"class {self.class_names[view.cls]}" if self.class_names else "unconditional"

    # Pictures.

    def large_image(self, view: View, upload: torch.Tensor | None) -> np.ndarray:
        """The clickable picture: the image with its queries and arrows, or the grid."""
        if view.mode == "grid":
            return self.grid(view)
        image, maps = self.image_and_maps(view, upload)
        beta = maps.get(view.layer) if view.layer else None
        queries = self.queries(beta, view) if beta is not None else []
        return image_view(image, beta, queries, VIEW_PIXELS)

    def tile(self) -> int:
        """Side of a sample in the grid: the image nearest-upscaled to about 128 pixels."""
        return self.resolution * max(1, (VIEW_PIXELS // GRID_COLUMNS) // self.resolution)

    @torch.no_grad()
    def grid(self, view: View) -> np.ndarray:
        """G's samples seed .. seed + 7 of the view's class, 4 per row, nearest-upscaled."""
        from torchvision.utils import make_grid

        key = (view.cls, view.seed, view.truncation)
        if self._grid[0] != key:
            device = next(self.G.parameters()).device
            z = torch.cat(
                [
                    latent(self.G.cfg.z_dim, view.seed + i, view.truncation)
                    for i in range(GRID_SAMPLES)
                ]
            )
            y = torch.full((GRID_SAMPLES,), view.cls, device=device) if self.class_names else None
            images = self.G(z.to(device), y).float().cpu()
            images = F.interpolate(
                images, scale_factor=self.tile() // self.resolution, mode="nearest"
            )
            grid = make_grid(
                images, GRID_COLUMNS, GRID_GAP, normalize=True, value_range=(-1, 1), pad_value=1
            )
            pixels = grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
            self._grid = (key, pixels)
        return self._grid[1]

    def grid_sample(self, x: int, y: int) -> int | None:
        """The index of the grid sample under pixel (x, y) of the grid picture, if any."""
        step = self.tile() + GRID_GAP
        col, row = (x - GRID_GAP) // step, (y - GRID_GAP) // step
        inside = (x - GRID_GAP) % step < self.tile() and (y - GRID_GAP) % step < self.tile()
        if not inside or not (0 <= col < GRID_COLUMNS and 0 <= row < GRID_SAMPLES // GRID_COLUMNS):
            return None
        return int(row * GRID_COLUMNS + col)

    def figure_file(self, view: View, upload: torch.Tensor | None) -> Path:
        """The view's figure (``sagan attention``'s renderer) written as a PNG file."""
        rows = self.rows(view, upload)
        if not rows:
            raise SaganError(f"{view.network[0]} has no attention layer with a map")
        fig = attention_grid_figure(rows, self.title(view))
        what = "upload" if view.network == "D upload" else f"seed{view.seed}"
        cls = re.sub(r"[^A-Za-z0-9_-]+", "-", self.class_label(view)).strip("-") or "class"
        path = self.workdir / f"attention-{view.network[0]}-{cls}-{what}.png"
        path.write_bytes(figure_png(fig))
        return path

    def layer_table(self, view: View) -> str:
        """HTML: for each attention layer of the view's network, gamma and grid sizes."""
        return layer_rows_html(view.network[0], self.net(view))

    def map_cards(self, view: View, upload: torch.Tensor | None) -> str:
        """HTML: each query's raw map over the key grid, with its values as data."""
        _, maps = self.image_and_maps(view, upload)
        layers = {name: maps[name] for name in self.layers[view.network]}
        head = {
            "network": view.network[0],
            "source": "upload" if view.network == "D upload" else "generated",
            "class": str(view.cls),
            "class-name": self.class_names[view.cls] if self.class_names else "",
            "seed": str(view.seed),
            "resolution": str(self.resolution),
            "points": ";".join(f"{x!r},{y!r}" for x, y in view.points),
        }
        return map_cards_html(head, layers, view.points)

    def auto_points(self, view: View, upload: torch.Tensor | None) -> View:
        """The view with 4 queries that attend to different places (``sagan attention``'s
        default choice), on the layer whose arrows the large image shows."""
        _, maps = self.image_and_maps(view, upload)
        if view.layer not in maps:
            return view
        beta = maps[view.layer]
        chosen = pick_queries(beta, MAX_QUERIES)
        points = tuple(query_pixel(q, beta.shape[0], self.resolution) for q in chosen)
        return dataclasses.replace(view, points=points, next_slot=0)

    def describe(self) -> str:
        """One line per network: its attention layers, gamma and key grids (for --check)."""
        lines = []
        for net_name, net in (("G", self.G), ("D", self.D)):
            if net is None:
                lines.append("D: not in this source (an exported folder holds G only)")
                continue
            names = sorted(net.attn, key=lambda n: int(n[4:]))
            parts = [
                f"{n} (gamma {float(net.attn[n].gamma.detach()):.4f}, keys {key_grid(net, n)})"
                for n in names
            ]
            lines.append(f"{net_name}: {', '.join(parts) or 'no attention layer'}")
        return "\n".join(lines)
