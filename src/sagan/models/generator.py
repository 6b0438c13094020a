"""The SAGAN generator (official ``generator_test``, generalised over presets)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from sagan.config import BASE_RESOLUTION, ModelConfig
from sagan.models.attention import ResidualInsteadOfAttention, SelfAttention
from sagan.models.blocks import GBlock
from sagan.models.layers import conv3x3, linear


def make_attention(channels: int, cfg: ModelConfig, sn: bool) -> nn.Module:
    """The block placed at an attention site: attention, or its residual stand-in."""
    if cfg.residual_instead_of_attention:
        return ResidualInsteadOfAttention(channels, cfg.attn_variant, sn)
    return SelfAttention(channels, cfg.attn_variant, sn)


def truncated_normal(
    shape: tuple[int, ...],
    threshold: float | None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """z ~ N(0, I); with a threshold, entries with |z| > threshold are redrawn."""
    z = torch.randn(shape, generator=generator, device=device)
    if threshold is None:
        return z
    if threshold <= 0:
        raise ValueError(f"truncation must be positive, got {threshold}")
    while True:
        bad = z.abs() > threshold
        if not bad.any():
            return z
        z[bad] = torch.randn(int(bad.sum()), generator=generator, device=device)


class Generator(nn.Module):
    """z [B, z_dim] and class y [B] (or class weights [B, K]) -> image [B, 3, R, R] in [-1, 1].

    SN-linear to a 4x4 map, residual up-blocks with conditional batch norm, attention
    after the blocks whose output size is in ``cfg.attn_g``, then BN-ReLU-conv3x3-tanh.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        sn = cfg.sn in ("both", "g")
        ch = cfg.g_channels
        self.linear = linear(cfg.z_dim, ch[0] * BASE_RESOLUTION**2, sn)
        self.blocks = nn.ModuleList(
            GBlock(ch[i], ch[i + 1], cfg.num_classes, sn, cfg.bn_eps) for i in range(len(ch) - 1)
        )
        self.attn = nn.ModuleDict(
            {f"feat{s}": make_attention(ch[cfg.g_sizes.index(s) + 1], cfg, sn) for s in cfg.attn_g}
        )
        self.bn = nn.BatchNorm2d(ch[-1], eps=cfg.bn_eps)
        self.conv_out = conv3x3(ch[-1], 3, sn)
        self.attn_sites = attention_sites(cfg.g_sizes, cfg.attn_g)

    def forward(
        self, z: torch.Tensor, y: torch.Tensor | None = None, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Generate images; with ``return_attention`` also the maps {layer: [B, N, N_k]}.

        y holds labels [B], or class weights [B, K] that mix the classes' conditioning
        (one-hot rows give exactly the labels' images).
        """
        maps: dict[str, torch.Tensor] = {}
        h = self.linear(z).view(z.shape[0], -1, BASE_RESOLUTION, BASE_RESOLUTION)  # [NCHW]
        for block, site in zip(self.blocks, self.attn_sites):
            h = block(h, y)
            if site is not None:
                h = run_attention(self.attn[site], h, site, maps, return_attention)
        img = torch.tanh(self.conv_out(torch.relu(self.bn(h))))
        return (img, maps) if return_attention else img

    @torch.no_grad()
    def sample(
        self,
        labels: torch.Tensor | list[int] | None,
        z: torch.Tensor | None = None,
        truncation: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Images [N, 3, R, R] in [-1, 1] for class labels (None when unconditional).

        z defaults to N(0, I) drawn from ``generator`` (optionally truncated at
        ``truncation``). Sampling runs in eval mode and leaves G's mode as it was.

        >>> import torch, sagan
        >>> G = sagan.Generator(sagan.ModelConfig.from_preset("digits"))
        >>> G.sample([0, 7], generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2, 3, 16, 16])
        """
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long)
        n = labels.shape[0] if labels is not None else (z.shape[0] if z is not None else 1)
        device = next(self.parameters()).device
        if z is None:
            z = truncated_normal((n, self.cfg.z_dim), truncation, generator)
        was_training = self.training
        self.eval()
        try:
            return self(z.to(device), None if labels is None else labels.to(device))
        finally:
            self.train(was_training)

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        revision: str | None = None,
        device: str | torch.device = "cpu",
    ) -> Generator:
        """Load G from an exported folder, a run folder, a checkpoint or a Hub id ``org/name``.

        A checkpoint's EMA weights are used when the run kept them; ``revision`` (a
        branch, tag or commit) applies to Hub ids only. The model is returned in eval
        mode. The loading itself lives in ``sagan.pretrained``.

        >>> import sagan
        >>> G = sagan.Generator.from_pretrained("org/sagan-digits")  # doctest: +SKIP
        """
        return _pretrained_io().load(source, revision, device)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``model.safetensors``, ``config.json``, a model card and a sample grid.

        The folder must be new, empty or an earlier export; spectral norm is baked into
        plain weights (G itself is left as it is). Returns the folder.
        """
        return _pretrained_io().save(self, folder)


class PretrainedIO(NamedTuple):
    """How ``Generator.from_pretrained`` and ``save_pretrained`` reach the loading layer.

    The models sit below everything that reads checkpoints, exported folders or the Hub,
    so they cannot import that code; ``sagan.pretrained`` installs its functions here
    when ``sagan`` is imported (dependency inversion: the model owns the interface, the
    layer above supplies it).
    """

    load: Callable[[str | Path, str | None, str | torch.device], Generator]
    save: Callable[[Generator, str | Path], Path]


_PRETRAINED_IO: PretrainedIO | None = None


def install_pretrained_io(io: PretrainedIO) -> None:
    """Set the functions behind ``from_pretrained`` and ``save_pretrained``."""
    global _PRETRAINED_IO
    _PRETRAINED_IO = io


def _pretrained_io() -> PretrainedIO:
    if _PRETRAINED_IO is None:  # only when sagan.models is used without the sagan package
        raise RuntimeError("import sagan first: it installs the loading of pretrained generators")
    return _PRETRAINED_IO


def attention_sites(sizes: tuple[int, ...], wanted: tuple[int, ...]) -> list[str | None]:
    """For each block, the attention site ('feat32') that follows it, or None.

    A site follows the first block whose output has that size.
    """
    sites: list[str | None] = []
    for i, s in enumerate(sizes):
        sites.append(f"feat{s}" if s in wanted and s not in sizes[:i] else None)
    return sites


def run_attention(
    layer: nn.Module, h: torch.Tensor, name: str, maps: dict[str, torch.Tensor], keep: bool
) -> torch.Tensor:
    """Apply an attention site; store its map under ``name`` when asked and available."""
    if keep and isinstance(layer, SelfAttention):
        h, maps[name] = layer(h, return_attention=True)
        return h
    return layer(h)
