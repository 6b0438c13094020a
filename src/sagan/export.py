"""Shareable generators: ``model.safetensors`` + ``config.json``, and optional ONNX.

An exported generator holds G's weights only (the EMA weights when the run kept them),
with spectral normalisation baked into plain weights, so loading it needs neither the
optimizer nor any training state.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils import parametrize

from sagan.config import ModelConfig, TrainConfig, model_config_from_dict
from sagan.errors import SaganError
from sagan.models.generator import Generator

EXPORT_FORMAT = "sagan-generator"
EXPORT_VERSION = 1


def plain_config(cfg: ModelConfig) -> ModelConfig:
    """The same architecture with no spectral norm in G (its weights are baked)."""
    return dataclasses.replace(cfg, sn="d" if cfg.sn in ("both", "d") else "none")


def bake_spectral_norm(G: Generator) -> Generator:
    """Replace every W by W / sigma(W) as evaluated now (eval mode: no power iteration)."""
    G.eval()
    for module in list(G.modules()):
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return G


def generator_from_checkpoint_state(ckpt: dict[str, Any], use_ema: bool = True) -> Generator:
    """G of a training checkpoint, with its EMA weights when present, in eval mode."""
    cfg = TrainConfig.from_dict(ckpt["config"])
    G = Generator(cfg.model)
    weights = ckpt.get("G_ema") if use_ema and ckpt.get("G_ema") is not None else ckpt["G"]
    try:
        G.load_state_dict(weights)
    except RuntimeError as e:
        raise SaganError(
            f"checkpoint weights do not fit its config: {str(e).splitlines()[0][:160]}"
        ) from None
    return G.eval()


def export_generator(ckpt: dict[str, Any], out: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write model.safetensors and config.json for the checkpoint's generator."""
    from safetensors.torch import save_file

    cfg = TrainConfig.from_dict(ckpt["config"])
    G = bake_spectral_norm(generator_from_checkpoint_state(ckpt))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in G.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": EXPORT_FORMAT})
    info = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "model": dataclasses.asdict(cfg.model),
        "resolution": cfg.model.resolution,
        "num_classes": cfg.model.num_classes,
        "class_names": ckpt.get("class_names"),
        "weights": "ema" if ckpt.get("G_ema") is not None else "generator",
        "training": {
            "preset": cfg.preset,
            "data": cfg.data,
            "steps": int(ckpt.get("step", 0)),
            "batch": cfg.batch,
            "lr_g": cfg.lr_g,
            "lr_d": cfg.lr_d,
            "beta2": cfg.beta2,
        },
        **(extra or {}),
    }
    (out / "config.json").write_text(json.dumps(info, indent=2) + "\n")
    return out


def load_exported(folder: Path, device: str | torch.device = "cpu") -> Generator:
    """A Generator from an exported folder, in eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_path, weights = folder / "config.json", folder / "model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise SaganError(
            f"'{folder}' is not an exported generator: it needs config.json and model.safetensors"
        )
    info = json.loads(cfg_path.read_text())
    if info.get("format") != EXPORT_FORMAT:
        raise SaganError(
            f"'{cfg_path}' is not a sagan generator config (format {info.get('format')!r})"
        )
    cfg = model_config_from_dict(info["model"])
    G = Generator(plain_config(cfg))
    G.cfg = cfg
    G.load_state_dict(load_file(str(weights), device=str(device)))
    G.class_names = info.get("class_names")
    return G.to(device).eval()


class _ImageOnly(torch.nn.Module):
    """G with a fixed signature (z[, class]) -> image, for tracing."""

    def __init__(self, G: Generator) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(z, y, return_attention=False)


def export_onnx(G: Generator, path: Path, check: bool = True) -> dict[str, Any]:
    """Write an ONNX generator (inputs z and class, output image); compare with PyTorch."""
    G = bake_spectral_norm(copy.deepcopy(G))
    n = 2
    z = torch.randn(n, G.cfg.z_dim, generator=torch.Generator().manual_seed(0))
    conditional = G.cfg.num_classes > 0
    y = torch.arange(n) % max(G.cfg.num_classes, 1)
    args = (z, y) if conditional else (z,)
    names = ["z", "class"] if conditional else ["z"]
    try:
        with warnings.catch_warnings():
            # The tracer flags G's Python-level switch return_attention, a constant here.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                _ImageOnly(G).eval(),
                args,
                str(path),
                input_names=names,
                output_names=["image"],
                dynamic_axes={k: {0: "batch"} for k in [*names, "image"]},
                dynamo=False,
            )
    except ImportError as e:
        raise SaganError(
            f"ONNX export needs the onnx package ({e}): pip install 'sagan[onnx]'"
        ) from None
    report: dict[str, Any] = {"onnx": str(path), "checked": False}
    if check:
        try:
            import onnxruntime as ort
        except ImportError:
            return report
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {"z": z.numpy()} | ({"class": y.numpy()} if conditional else {})
        ours = G(z, y if conditional else None).detach().numpy()
        theirs = session.run(["image"], feeds)[0]
        report.update(checked=True, max_abs_diff=float(abs(ours - theirs).max()))
    return report
