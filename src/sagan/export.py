"""The exported generator format: ``model.safetensors`` + ``config.json``, and optional ONNX.

An exported generator holds G's weights only (the EMA weights when the run kept them),
with spectral normalisation baked into plain weights, so loading it needs neither the
optimizer nor any training state. Reading one never unpickles anything: the weights are
safetensors and the config is JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils import parametrize

from sagan.config import ModelConfig, model_config_from_dict
from sagan.errors import SaganError
from sagan.models.generator import Generator

EXPORT_FORMAT = "sagan-generator"
EXPORT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


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


def baked_copy(G: Generator) -> Generator:
    """A CPU copy of G in eval mode with spectral norm baked in; G is left as it is.

    The copy is built anew rather than deep-copied: a parametrized module's class is its
    own, so removing the copy's parametrizations would remove the original's as well.
    """
    has_sn = any(parametrize.is_parametrized(m) for m in G.modules())
    fresh = Generator(G.cfg if has_sn else plain_config(G.cfg))
    fresh.load_state_dict(G.state_dict())
    fresh.cfg = G.cfg
    return bake_spectral_norm(fresh)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and os.replace: a reader sees
    the old file or the new one, never half of one. An OS error is a SaganError."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SaganError(f"cannot write '{path}': {e.strerror or e}") from None


def write_export(G: Generator, folder: Path, info: dict[str, Any]) -> None:
    """Write model.safetensors and config.json for G (a baked copy; G is left as it is).

    ``info`` holds what the config records besides the architecture: class names, which
    weights these are, the training recipe and metrics.
    """
    from safetensors.torch import save

    baked = baked_copy(G)
    state = {k: v.detach().contiguous() for k, v in baked.state_dict().items()}
    config = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "model": dataclasses.asdict(G.cfg),
        "resolution": G.cfg.resolution,
        "num_classes": G.cfg.num_classes,
        **info,
    }
    write_atomically(folder / WEIGHTS_FILE, save(state, metadata={"format": EXPORT_FORMAT}))
    write_atomically(folder / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())


def read_export_config(folder: Path, where: str | None = None) -> dict[str, Any]:
    """The config.json of an exported folder, checked to be a sagan generator's."""
    folder = Path(folder)
    where = where or f"'{folder}'"
    cfg_path, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not cfg_path.is_file() or not weights.is_file():
        raise SaganError(
            f"{where} is not an exported generator: it needs config.json and model.safetensors"
        )
    try:
        info = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as e:
        raise SaganError(f"the config.json of {where} cannot be read: {e}") from None
    fmt = info.get("format") if isinstance(info, dict) else None
    if fmt != EXPORT_FORMAT:
        raise SaganError(
            f"{where} is not a sagan generator (its config.json has format {fmt!r}, "
            f"not {EXPORT_FORMAT!r}): is it a model of another library?"
        )
    if int(info.get("version", 0)) > EXPORT_VERSION:
        raise SaganError(f"{where} has export version {info['version']}; upgrade sagan")
    return info


def read_export(
    folder: Path, device: str | torch.device = "cpu", where: str | None = None
) -> tuple[Generator, dict[str, Any]]:
    """G (eval mode) and its config.json from an exported folder. Only safetensors is read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    info = read_export_config(folder, where)
    where = where or f"'{folder}'"
    cfg = model_config_from_dict(info["model"], f"the config.json of {where}")
    G = Generator(plain_config(cfg))
    G.cfg = cfg
    try:
        G.load_state_dict(load_file(str(Path(folder) / WEIGHTS_FILE)))
    except (SafetensorError, RuntimeError, OSError) as e:
        raise SaganError(
            f"the weights of {where} do not load: {str(e).splitlines()[0][:160]}"
        ) from None
    return G.to(device).eval(), info


def check_export_folder(out: Path) -> None:
    """An export's folder is new, empty or an earlier export: never a run folder or another folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SaganError(f"--out '{out}' is a file: pass a folder for the exported generator")
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        fmt = json.loads((out / CONFIG_FILE).read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        fmt = None
    if fmt != EXPORT_FORMAT:
        what = "a run folder" if (out / "checkpoints").is_dir() else "other files"
        raise SaganError(
            f"--out '{out}' holds {what}, not an earlier export: pass a new or empty folder"
        )


class _ImageOnly(torch.nn.Module):
    """G with a fixed signature (z[, class]) -> image, for export."""

    def __init__(self, G: Generator) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(z, y, return_attention=False)


def export_onnx(G: Generator, path: Path, check: bool = True) -> dict[str, Any]:
    """Write an ONNX generator (inputs z and class, output image, any batch size) with
    torch.export (``dynamo=True``) and compare it with PyTorch through onnxruntime."""
    G = baked_copy(G)
    z = torch.randn(2, G.cfg.z_dim, generator=torch.Generator().manual_seed(0))
    conditional = G.cfg.num_classes > 0
    y = torch.arange(2) % max(G.cfg.num_classes, 1)
    args = (z, y) if conditional else (z,)
    names = ["z", "class"] if conditional else ["z"]
    # One named batch axis: the exporter ties the class input's batch to z's, and a second
    # name for the same axis would only be dropped with a warning.
    batch = ({0: "batch"}, {0: torch.export.Dim.DYNAMIC})[: len(args)]
    tmp = Path(path).with_name(f".tmp-{Path(path).name}")
    try:
        torch.onnx.export(
            _ImageOnly(G).eval(),
            args,
            str(tmp),
            input_names=names,
            output_names=["image"],
            dynamic_shapes=batch,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    except ImportError as e:
        tmp.unlink(missing_ok=True)
        raise SaganError(
            f"ONNX export needs the onnx and onnxscript packages ({e}): pip install 'sagan[onnx]'"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    report: dict[str, Any] = {"onnx": str(path), "checked": False}
    if check:
        try:
            import onnxruntime as ort
        except ImportError:
            return report
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        z3 = torch.randn(3, G.cfg.z_dim, generator=torch.Generator().manual_seed(1))
        y3 = torch.arange(3) % max(G.cfg.num_classes, 1)  # another batch size than traced
        feeds = {"z": z3.numpy()} | ({"class": y3.numpy()} if conditional else {})
        with torch.no_grad():
            ours = G(z3, y3 if conditional else None).numpy()
        theirs = session.run(["image"], feeds)[0]
        report.update(checked=True, max_abs_diff=float(abs(ours - theirs).max()))
    return report
