"""Small pieces of the training loop: device, latents, checkpoint state, gammas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sagan.config import ModelConfig, TrainConfig
from sagan.errors import SaganError
from sagan.training.ema import EMA

if TYPE_CHECKING:
    from sagan.training.limited_data import LimitedData


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when available, else the CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SaganError("--device cuda was asked for but no CUDA GPU is visible: use --device cpu")
    return torch.device(name)


def draw_latents(
    cfg: ModelConfig, n: int, gen: torch.Generator, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """z ~ N(0, I) [n, z_dim] and classes drawn uniformly [n] (None if unconditional)."""
    z = torch.randn(n, cfg.z_dim, generator=gen)
    y = torch.randint(0, cfg.num_classes, (n,), generator=gen) if cfg.num_classes > 0 else None
    return to_device(z, device), (to_device(y, device) if y is not None else None)


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor on ``device`` without making the host wait: a plain copy to a GPU from
    pageable memory synchronises, one from pinned memory runs in the stream's order."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def training_state(
    step: int,
    cfg: TrainConfig,
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    ema: EMA | None,
    noise: torch.Generator,
    extras: LimitedData | None = None,
) -> dict[str, Any]:
    """Everything a resumed run needs, as one dict of state_dicts."""
    return {
        "limited_data": extras.state_dict() if extras is not None else None,
        "step": step,
        "config": cfg.to_dict(),
        "G": G.state_dict(),
        "D": D.state_dict(),
        "G_ema": ema.model.state_dict() if ema is not None else None,
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "noise": noise.get_state()},
    }


def restore_state(
    ckpt: dict[str, Any],
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    ema: EMA | None,
    noise: torch.Generator,
    extras: LimitedData | None = None,
) -> int:
    """Load a checkpoint into the live objects and return its step."""
    try:
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
    except RuntimeError as e:
        raise SaganError(
            "checkpoint does not fit this model (another preset, class count or attention "
            f"setting?): {str(e).splitlines()[0][:160]}"
        ) from None
    opt_g.load_state_dict(ckpt["opt_g"])
    opt_d.load_state_dict(ckpt["opt_d"])
    if ema is not None:
        ema.model.load_state_dict(ckpt["G_ema"] if ckpt.get("G_ema") is not None else ckpt["G"])
    if extras is not None and ckpt.get("limited_data") is not None:
        extras.load_state_dict(ckpt["limited_data"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    noise.set_state(ckpt["rng"]["noise"])
    return int(ckpt["step"])


def attention_gammas(G: nn.Module, D: nn.Module) -> dict[str, float]:
    """Each attention site's gamma, as {'g.feat32': value, 'd.feat32': value}."""
    out = {}
    for prefix, net in (("g", G), ("d", D)):
        for name, layer in net.attn.items():
            out[f"{prefix}.{name}"] = float(layer.gamma.detach())
    return out
