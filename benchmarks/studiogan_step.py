"""PyTorch-StudioGAN's CIFAR-10 SAGAN training iteration, for timing beside sagan's.

``benchmarks/train_step.py --studiogan DIR`` uses this: DIR is a checkout of
https://github.com/POSTECH-CVLab/PyTorch-StudioGAN that the user provides (nothing of it is
copied into this repository). Its own code builds the networks (``src/models/resnet.py``
with ``src/configs/CIFAR10/SAGAN.yaml``: G 256 wide, D 128 wide, attention at 16x16, the
widths of sagan's ``cifar32`` preset) and one iteration does what its worker
(``src/worker.py``) does for one D update and one G update: G's parameters frozen while D
learns from separate real and fake passes, then D's frozen while G learns, hinge losses
(``utils.losses``), Adam as its ``define_optimizer`` builds it. Its mixed precision is
CUDA-only (``torch.cuda.amp``), so on a CPU it runs in fp32.

StudioGAN imports packages sagan does not need (among them seaborn, kornia, h5py, pyyaml
and setuptools' pkg_resources); install them next to sagan to run this comparison.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch

CONFIG = "src/configs/CIFAR10/SAGAN.yaml"


def check_checkout(checkout: str | Path) -> Path:
    """The checkout's root; SystemExit with one line when it is not StudioGAN's."""
    root = Path(checkout).expanduser().resolve()
    if not (root / CONFIG).is_file() or not (root / "src" / "models" / "resnet.py").is_file():
        raise SystemExit(f"--studiogan {checkout}: not a PyTorch-StudioGAN checkout (no {CONFIG})")
    return root


def load_studiogan(checkout: str | Path):
    """StudioGAN's config module and its models and helpers, imported from ``checkout``."""
    root = check_checkout(checkout)
    src = root / "src"
    sys.path.insert(0, str(src))
    try:
        import config as sg_config
        import models.resnet as sg_resnet
        import utils.losses as sg_losses
        import utils.misc as sg_misc
    except ImportError as e:
        raise SystemExit(
            f"--studiogan: StudioGAN's code needs {e.name!r}: pip install it next to sagan"
        ) from None
    return root, sg_config, sg_resnet, sg_losses, sg_misc


def studiogan_iteration(
    checkout: str | Path, batch: int, device: torch.device
) -> tuple[Callable[[], None], dict[str, int]]:
    """A function running one StudioGAN training iteration on fixed inputs, and the
    networks' parameter counts."""
    root, sg_config, sg_resnet, sg_losses, sg_misc = load_studiogan(checkout)
    cfgs = sg_config.Configurations(str(root / CONFIG))
    D_, M, MODULES = cfgs.DATA, cfgs.MODEL, cfgs.MODULES
    torch.manual_seed(0)
    common = dict(mixed_precision=False, MODULES=MODULES, MODEL=M)
    G = sg_resnet.Generator(
        z_dim=M.z_dim, g_shared_dim=M.g_shared_dim, img_size=D_.img_size,
        g_conv_dim=M.g_conv_dim, apply_attn=M.apply_attn, attn_g_loc=M.attn_g_loc,
        g_cond_mtd=M.g_cond_mtd, num_classes=D_.num_classes, g_init=M.g_init,
        g_depth=M.g_depth, **common,
    ).to(device)  # fmt: skip
    D = sg_resnet.Discriminator(
        img_size=D_.img_size, d_conv_dim=M.d_conv_dim, apply_d_sn=M.apply_d_sn,
        apply_attn=M.apply_attn, attn_d_loc=M.attn_d_loc, d_cond_mtd=M.d_cond_mtd,
        aux_cls_type=M.aux_cls_type, d_embed_dim=M.d_embed_dim, num_classes=D_.num_classes,
        normalize_d_embed=M.normalize_d_embed, d_init=M.d_init, d_depth=M.d_depth, **common,
    ).to(device)  # fmt: skip
    cfgs.define_optimizer(G, D)
    cfgs.define_losses()
    opt_g, opt_d = cfgs.OPTIMIZATION.g_optimizer, cfgs.OPTIMIZATION.d_optimizer
    loss = cfgs.LOSS
    gen = torch.Generator().manual_seed(1)
    real = (torch.rand(batch, 3, D_.img_size, D_.img_size, generator=gen) * 2 - 1).to(device)
    y = torch.randint(0, D_.num_classes, (batch,), generator=gen).to(device)
    z = torch.randn(batch, M.z_dim, generator=gen).to(device)

    def iteration() -> None:
        # D update (worker.train_discriminator, one D step, no accumulation).
        sg_misc.make_GAN_trainable(G, None, D)
        sg_misc.toggle_grad(model=G, grad=False, num_freeze_layers=-1)
        sg_misc.toggle_grad(model=D, grad=True, num_freeze_layers=-1)
        G.apply(sg_misc.untrack_bn_statistics)
        opt_d.zero_grad()
        fake = G(z, y)
        d_loss = loss.d_loss(D(real, y)["adv_output"], D(fake, y)["adv_output"], DDP=False)
        d_loss.backward()
        opt_d.step()
        # G update (worker.train_generator).
        sg_misc.make_GAN_trainable(G, None, D)
        sg_misc.toggle_grad(model=D, grad=False, num_freeze_layers=-1)
        sg_misc.toggle_grad(model=G, grad=True, num_freeze_layers=-1)
        G.apply(sg_misc.track_bn_statistics)
        opt_g.zero_grad()
        g_loss = loss.g_loss(D(G(z, y), y)["adv_output"], DDP=False)
        g_loss.backward()
        opt_g.step()

    counts = {
        "g_params": sum(p.numel() for p in G.parameters()),
        "d_params": sum(p.numel() for p in D.parameters()),
    }
    return iteration, counts
