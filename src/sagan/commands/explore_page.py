"""The ``sagan explore`` page: Gradio components wired to an ``Explorer``.

Every event turns the tab's ``View`` into a new one and redraws everything from it, so
what the page shows is a function of the view alone. All events share one queue slot:
the models and matplotlib are used by one event at a time.
"""

# No `from __future__ import annotations` here: Gradio finds the click handler's
# gr.SelectData argument through its annotation, which must be the class itself.

import dataclasses
from typing import Any

from sagan.commands.explore_view import (
    NETWORKS,
    VIEW_PIXELS,
    Explorer,
    View,
    add_point,
    read_upload,
)
from sagan.errors import SaganError

CSS = """
#sagan-view img { image-rendering: pixelated; cursor: crosshair; }
#sagan-map-cards { display: flex; flex-wrap: wrap; gap: 12px; }
#sagan-map-cards figure { margin: 0; width: 200px; font-size: 12px; }
#sagan-layer-table td, #sagan-layer-table th { padding: 2px 10px; text-align: left; }
"""
HELP = (
    "Click the large image to place a query (up to 4; a fifth replaces the oldest). For each "
    "attention layer the figure below shows the image with every query's arrow to its "
    "most-attended location, then each query's map over the image. The PNG download is that "
    "figure, drawn by the same code as `sagan attention`."
)
OUTPUTS = ("view", "large", "figure", "download", "layers", "cards", "status")
CONTROLS = ("seed", "mode", "network", "layer")  # also set by events, so redrawn too
QUEUE = "explorer"  # one concurrency slot shared by every event
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes no more


def theme(gr):
    """Gradio's base theme with system fonts, so the page loads no font from the internet."""
    return gr.themes.Base(
        font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "Menlo", "monospace"],
    )


def draw(explorer: Explorer, view: View, upload, message: str = "") -> dict[str, Any]:
    """Everything the page shows for a view, by output name."""
    figure = str(explorer.figure_file(view, upload))
    return {
        "view": view,
        "large": explorer.large_image(view, upload),
        "figure": figure,
        "download": figure,
        "layers": explorer.layer_table(view),
        "cards": explorer.map_cards(view, upload),
        "status": message or status_line(explorer, view),
        "seed": view.seed,
        "mode": view.mode,
        "network": view.network,
        "layer": view.layer,
    }


def status_line(explorer: Explorer, view: View) -> str:
    """What the page shows and what a click does, in one line."""
    if view.mode == "grid":
        return f"Seeds {view.seed} to {view.seed + 7} of {explorer.class_label(view)}: click a sample to open it."
    return f"{explorer.title(view)}: {len(view.points)} of 4 queries placed."


def clamp(value, low: int, high: int) -> int:
    """An integer from a control, kept in [low, high] (the page's API takes any number)."""
    try:
        return min(max(int(value or 0), low), high)
    except (TypeError, ValueError, OverflowError):
        return low


def truncation(value) -> float | None:
    """The truncation threshold from the slider: None for 0 (or anything not positive)."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        return None
    return t if 0 < t < float("inf") else None


def switch_network(explorer: Explorer, v: View, up, network: str):
    """The view on another network, keeping the arrows' layer when that network has it."""
    if network == "D upload" and up is None:
        return (
            v,
            "**Upload an image first (below the controls): D's attention is then drawn on it.**",
        )
    layers = explorer.layers[network]
    layer = v.layer if v.layer in layers else (layers or [None])[-1]
    return dataclasses.replace(v, network=network, layer=layer)


def grid_click(explorer: Explorer, v: View, x: int, y: int) -> View:
    """A click on the grid opens the sample under it (and D upload falls back to D)."""
    i = explorer.grid_sample(x, y)
    if i is None:
        return v
    network = "D" if v.network == "D upload" else v.network
    return dataclasses.replace(v, mode="single", seed=v.seed + i, network=network)


def controls(gr, explorer: Explorer, first: View, shown: dict[str, Any]) -> dict[str, Any]:
    """The left column: class, seed, truncation, new sample, mode, network, layer, buttons."""
    names = explorer.class_names
    c: dict[str, Any] = {}
    c["cls"] = gr.Dropdown(
        [(n, i) for i, n in enumerate(names)] or [("unconditional", 0)],
        value=0,
        label="class",
        interactive=bool(names),
        elem_id="sagan-class",
    )
    c["seed"] = gr.Number(first.seed, precision=0, minimum=0, label="seed", elem_id="sagan-seed")
    c["trunc"] = gr.Slider(
        0, 3, value=0, step=0.05, label="truncation (0: none)", elem_id="sagan-truncation"
    )
    c["new"] = gr.Button("new sample", elem_id="sagan-new")
    c["mode"] = gr.Radio(
        [("single image", "single"), ("grid of 8", "grid")],
        value="single",
        label="mode",
        elem_id="sagan-mode",
    )
    c["network"] = gr.Radio(
        [(NETWORKS[n], n) for n in explorer.networks()],
        value="G",
        label="attention of",
        elem_id="sagan-network",
    )
    c["layer"] = gr.Radio(
        explorer.layers["G"],
        value=first.layer,
        label="arrows on the large image",
        elem_id="sagan-layer",
    )
    with gr.Row():
        c["auto"] = gr.Button("auto queries", elem_id="sagan-auto")
        c["clear"] = gr.Button("clear", elem_id="sagan-clear")
    c["download"] = gr.DownloadButton(
        "download figure (PNG)", value=shown["download"], elem_id="sagan-download"
    )
    c["file"] = gr.File(
        label="image for D (PNG, JPEG, WebP, BMP, GIF, TIFF; at most 20 MB)",
        file_types=["image"],
        type="filepath",
        height=170,
        visible=explorer.D is not None,
        elem_id="sagan-upload",
    )
    note = (
        "D's attention needs a checkpoint or a run folder: an exported folder holds G only."
        if explorer.D is None
        else "On an uploaded image, D's label is the class chosen above."
    )
    gr.Markdown(note, elem_id="sagan-d-note")
    return c


def build_page(gr, explorer: Explorer, title: str):
    """The page as a gr.Blocks, with its first view drawn in (interactive at once).

    Returns (page, what the first view shows)."""
    first = explorer.first_view()
    shown = draw(explorer, first, None)
    with gr.Blocks(analytics_enabled=False, title=title, delete_cache=(600, 3600)) as page:
        c = {"view": gr.State(first), "upload": gr.State(None)}
        gr.Markdown(f"## {title}\n{HELP}")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                c.update(controls(gr, explorer, first, shown))
            with gr.Column(scale=2):
                c["status"] = gr.Markdown(shown["status"], elem_id="sagan-status")
                c["large"] = gr.Image(
                    shown["large"],
                    format="png",
                    interactive=False,
                    show_label=False,
                    buttons=["fullscreen"],
                    elem_id="sagan-view",
                )
        c["figure"] = gr.Image(
            shown["figure"], type="filepath", interactive=False, label="figure (the PNG download)",
            buttons=[], elem_id="sagan-figure",
        )  # fmt: skip
        c["layers"] = gr.HTML(shown["layers"], elem_id="sagan-layers")
        c["cards"] = gr.HTML(shown["cards"], elem_id="sagan-maps")
        wire(gr, explorer, c)
    return page, shown


def wire(gr, explorer: Explorer, c: dict[str, Any]) -> None:
    """Connect every control to a view change followed by a redraw."""
    names = OUTPUTS + CONTROLS
    targets = [c[n] for n in names]
    state = [c["view"], c["upload"]]

    def redraw(v: View, up, message: str = "") -> list:
        try:
            shown = draw(explorer, v, up, message)
        except SaganError as e:  # e.g. a model without maps: say so, keep the page as it is
            return [f"**{e}**" if n == "status" else gr.update() for n in names]
        shown["layer"] = gr.update(choices=explorer.layers[v.network], value=v.layer)
        return [shown[n] for n in names]

    def on(event, change, inputs=()) -> None:
        def handler(v: View, up, *args):
            result = change(v, up, *args)
            new, message = result if isinstance(result, tuple) else (result, "")
            return redraw(new, up, message)

        event(handler, [*state, *inputs], targets, concurrency_id=QUEUE, show_progress="hidden")

    def select(v: View, up, evt: gr.SelectData):
        x, y = (int(round(float(t))) for t in evt.index[:2])
        if v.mode == "grid":
            return redraw(grid_click(explorer, v, x, y), up)
        R = explorer.resolution
        return redraw(add_point(v, x * R / VIEW_PIXELS, y * R / VIEW_PIXELS), up)

    c["large"].select(select, state, targets, concurrency_id=QUEUE, show_progress="hidden")
    replace = dataclasses.replace
    top_class = max(len(explorer.class_names) - 1, 0)
    on(c["cls"].input, lambda v, up, k: replace(v, cls=clamp(k, 0, top_class)), [c["cls"]])
    on(c["seed"].input, lambda v, up, s: replace(v, seed=clamp(s, 0, MAX_SEED)), [c["seed"]])
    on(c["trunc"].release, lambda v, up, t: replace(v, truncation=truncation(t)), [c["trunc"]])
    on(c["new"].click, lambda v, up: replace(v, seed=v.seed + (8 if v.mode == "grid" else 1)))
    on(c["mode"].input, lambda v, up, m: replace(v, mode=m), [c["mode"]])
    on(c["network"].input, lambda v, up, n: switch_network(explorer, v, up, n), [c["network"]])
    on(c["layer"].input, lambda v, up, name: replace(v, layer=name), [c["layer"]])
    on(c["auto"].click, lambda v, up: explorer.auto_points(replace(v, mode="single"), up))
    on(c["clear"].click, lambda v, up: replace(v, points=(), next_slot=0))

    def uploaded(v: View, up, path):
        try:
            image = read_upload(path, explorer.resolution)
        except SaganError as e:  # the refused file is taken off the page; the view stays
            return [up, None, *redraw(v, up, f"**Upload refused: {e}.**")]
        v = switch_network(explorer, replace(v, mode="single"), image, "D upload")
        message = "Uploaded: D's attention on it, resized as training data is."
        return [image, gr.update(), *redraw(v, image, message)]

    def removed(v: View, up):
        network = "D" if v.network == "D upload" else v.network
        return [None, *redraw(replace(v, network=network), None)]

    file = c["file"]
    kw = {"concurrency_id": QUEUE, "show_progress": "hidden"}
    file.upload(uploaded, [*state, file], [c["upload"], file, *targets], **kw)
    file.clear(removed, state, [c["upload"], *targets], **kw)
