"""The model card (README.md) and sample grid of an exported generator.

The card's YAML header is huggingface_hub's ``ModelCardData``: ``library_name: sagan``,
tags, the training data, and the run's metrics as a ``model-index`` whose entries name
the feature extractor and the number of samples. The body shows samples.png, the
architecture and training recipe, and a three-line usage example.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sagan.errors import SaganError
from sagan.export import write_atomically
from sagan.models.generator import Generator

GRID_FILE = "samples.png"
GRID_SEED = 0
SN_WHERE = {"both": "G and D", "g": "G only", "d": "D only", "none": "none"}
METRIC_NAMES = {
    "class_accuracy": "class accuracy (digits classifier)",
    "digits_fid": "digits-FID (not Inception FID)",
    "digits_fid_real": "digits-FID of held-out real digits (the floor)",
    "diversity": "within-class pixel diversity against the real digits (real: about 1)",
    "copy_ratio": "pixel distance to the nearest training digit, against held-out digits' (1: no copying)",
    "fid": "FID",
    "is": "Inception Score",
    "intra_fid": "intra-FID",
    "kid": "KID",
}


PIXEL_METRICS = ("diversity", "copy_ratio")  # measured on 16x16 grayscale pixels

FILE_NOTES = {
    "model.safetensors": "G's weights (spectral norm baked in), read without unpickling",
    "config.json": "the architecture, class names, training recipe and metrics",
    GRID_FILE: "the samples above",
    "generator.onnx": "the same generator in ONNX (inputs z and class, any batch size)",
}


def write_card(
    G: Generator, folder: Path, info: dict[str, Any], name: str, grid: bool = True
) -> None:
    """Write samples.png (fixed z, one row per class; unless ``grid`` is False) and
    README.md, which lists the folder's files, into ``folder``."""
    folder = Path(folder)
    if grid:
        write_grid(G, folder / GRID_FILE)
    files = [f for f in FILE_NOTES if (folder / f).is_file()]
    write_atomically(folder / "README.md", card_text(G, info, name, files).encode())


def write_grid(G: Generator, path: Path) -> None:
    """The sample grid of the card: up to 10 classes spread out, 8 samples each."""
    from sagan.viz.grid import fixed_grid_latents, render, save_grid

    z, y = fixed_grid_latents(G.cfg, GRID_SEED)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        save_grid(render(G, z, y), tmp)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SaganError(f"cannot write '{path}': {e.strerror or e}") from None


def dataset_name(data: str | None) -> str | None:
    """The training data's name for the card: 'digits', or a folder's last component
    (never a local path, which would mean nothing to others)."""
    if not data:
        return None
    return data if data == "digits" else Path(data).name


def card_data(G: Generator, info: dict[str, Any], name: str):
    """The card's YAML metadata as huggingface_hub's ModelCardData."""
    from huggingface_hub import EvalResult, ModelCardData

    data = dataset_name((info.get("training") or {}).get("data"))
    metrics = info.get("metrics") or {}
    args = {k: metrics[k] for k in ("extractor", "num_samples") if k in metrics}
    pixel_args = {k: v for k, v in args.items() if k == "num_samples"}  # no feature network
    results = [
        EvalResult(
            task_type="image-generation",
            dataset_type=data or "unknown",
            dataset_name=data or "unknown",
            metric_type=key,
            metric_value=value,
            metric_name=METRIC_NAMES.get(key, key),
            metric_args=(pixel_args if key in PIXEL_METRICS else args) or None,
        )
        for key, value in metrics.items()
        if isinstance(value, int | float) and key != "num_samples"
    ]
    conditional = G.cfg.num_classes > 0
    return ModelCardData(
        library_name="sagan",
        tags=[
            "gan",
            "image-generation",
            "class-conditional" if conditional else "unconditional",
            "self-attention-gan",
            "pytorch",
        ],
        datasets=[data] if data else None,
        pipeline_tag="unconditional-image-generation",
        model_name=name,
        eval_results=results or None,
    )


def card_text(G: Generator, info: dict[str, Any], name: str, files: list[str] | None = None) -> str:
    """The whole README.md: YAML header, then the card's body."""
    from huggingface_hub import ModelCard

    header = card_data(G, info, name).to_yaml()
    body = card_body(G, info, name, files if files is not None else list(FILE_NOTES)[:3])
    card = ModelCard(f"---\n{header}\n---\n\n{body}")
    return str(card)


def card_body(G: Generator, info: dict[str, Any], name: str, files: list[str]) -> str:
    """Title, samples, usage, architecture, recipe, metrics and files, in Markdown."""
    cfg = G.cfg
    k, res = cfg.num_classes, cfg.resolution
    names = info.get("class_names") or [str(c) for c in range(k)]
    kind = f"class-conditional, {k} classes" if k else "unconditional"
    labels = ", ".join(str(c) for c in range(min(k, 3)))
    sample = (
        f"images = G.sample([{labels}], generator=torch.Generator().manual_seed(0))"
        if k
        else f"images = G.sample(None, z=torch.randn(4, {cfg.z_dim}))"
    )
    rows = "one row per class" if k else "8 x 8 samples"
    return "\n".join(
        [
            f"# {name}",
            "",
            f"A Self-Attention GAN generator (Zhang, Goodfellow, Metaxas, Odena, ICML 2019), "
            f"{res}x{res}, {kind}, made with sagan.",
            "",
            f"![samples from fixed z, {rows}]({GRID_FILE})",
            "",
            "## Usage",
            "",
            "```python",
            "import sagan, torch",
            f'G = sagan.Generator.from_pretrained("{name}")',
            f"{sample}  # [N, 3, {res}, {res}] in [-1, 1]",
            "```",
            "",
            f"From the command line: `sagan sample --ckpt {name} --out samples --images 1000`.",
            "",
            *architecture_lines(G, names),
            *recipe_lines(info),
            *metric_lines(info.get("metrics") or {}),
            "## Files",
            "",
            *[f"- `{f}`: {FILE_NOTES[f]}" for f in files],
            "",
        ]
    )


def architecture_lines(G: Generator, names: list[str]) -> list[str]:
    """The architecture section."""
    cfg = G.cfg
    sites = ", ".join(f"feat{s}" for s in cfg.attn_g) or "none"
    block = (
        "a residual block in place of attention"
        if cfg.residual_instead_of_attention
        else (f"self-attention ({cfg.attn_variant} variant)")
    )
    shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
    params = sum(p.numel() for p in G.parameters())
    return [
        "## Architecture",
        "",
        f"- z: {cfg.z_dim}-d N(0, I); output {cfg.resolution}x{cfg.resolution} RGB in [-1, 1]",
        f"- G widths {', '.join(map(str, cfg.g_channels))}: residual up-blocks with "
        + ("conditional batch norm" if cfg.num_classes else "batch norm"),
        f"- attention sites in G: {sites}, {block}",
        f"- spectral norm during training: {SN_WHERE[cfg.sn]} (baked into the weights here)",
        f"- classes: {shown}" if cfg.num_classes else "- unconditional",
        f"- parameters: {params:,}",
        "",
    ]


def recipe_lines(info: dict[str, Any]) -> list[str]:
    """The training recipe section (empty when the recipe is not recorded)."""
    t = info.get("training") or {}
    if not t:
        return []
    ema = f"EMA of G, decay {t['ema_decay']}" if t.get("ema_decay") else "no EMA"
    weights = "the EMA weights" if info.get("weights") == "ema" else "G's own weights"
    rows = [
        ("preset", t.get("preset")),
        ("data", dataset_name(t.get("data"))),
        ("G steps", t.get("steps")),
        ("batch", t.get("batch")),
        ("D steps per G step", t.get("n_dis")),
        ("learning rates (G / D)", f"{t.get('lr_g')} / {t.get('lr_d')}"),
        ("Adam betas", f"{t.get('beta1')}, {t.get('beta2')}"),
        ("averaging", ema),
        ("seed", t.get("seed")),
    ]
    other = {k: v for k, v in (t.get("departures_from_official") or {}).items() if "ema" not in k}
    if other:  # the limited-data options, none of them in the official code
        rows.append(("not in the official code", ", ".join(f"{k} {v}" for k, v in other.items())))
    table = [f"| {k} | {v} |" for k, v in rows if v is not None]
    return [
        "## Training recipe",
        "",
        f"Hinge loss and Adam with the settings below; these are {weights}.",
        "",
        "| setting | value |",
        "|---|---|",
        *table,
        "",
    ]


def metric_lines(metrics: dict[str, Any]) -> list[str]:
    """The metrics section (empty when none were measured on these weights)."""
    values = {k: v for k, v in metrics.items() if isinstance(v, int | float) and k != "num_samples"}
    if not values:
        return []
    extractor, n = metrics.get("extractor", "?"), metrics.get("num_samples", "?")
    return [
        "## Metrics",
        "",
        f"Measured at the end of training on {n} samples with uniform classes; "
        f"features: {extractor}.",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {METRIC_NAMES.get(k, k)} | {v:.4g} |" for k, v in values.items()],
        "",
    ]
