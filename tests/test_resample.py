"""The fused resampling convolutions compute the literal blocks' function and gradients."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from sagan.config import ModelConfig
from sagan.models import Discriminator, Generator
from sagan.models.blocks import DBlock, DOptimizedBlock, GBlock
from sagan.models.layers import conv1x1, conv3x3
from sagan.models.resample import conv3x3_avgpool, conv_down, up_conv, upsample_conv3x3
from sagan.training.fast_path import set_reference_math


def _grads(fn, *tensors):
    """fn's output and the gradients of a fixed random projection of it."""
    out = fn(*tensors)
    proj = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
    return (out, *torch.autograd.grad((out * proj).sum(), tensors))


def _assert_close(got, want, rtol=1e-5):
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        scale = w.abs().max().clamp_min(1e-6)
        assert ((g - w).abs().max() / scale).item() < rtol


@pytest.mark.parametrize("size", [4, 5, 8])
@pytest.mark.parametrize("channels_last", [False, True])
def test_upsample_conv3x3_is_conv3x3_of_the_nearest_upsampled_map(size, channels_last):
    torch.manual_seed(0)
    x = torch.randn(2, 6, size, size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(5, 6, 3, 3), torch.randn(5)
    x, w, b = (t.requires_grad_() for t in (x, w, b))

    def literal(x, w, b):
        return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, b, padding=1)

    got = _grads(upsample_conv3x3, x, w, b)
    assert got[0].shape == (2, 5, 2 * size, 2 * size)
    _assert_close(got, _grads(literal, x, w, b))


@pytest.mark.parametrize("size", [4, 8, 16])
def test_conv3x3_avgpool_is_the_pooled_conv3x3(size):
    torch.manual_seed(1)
    x, w, b = torch.randn(3, 4, size, size), torch.randn(7, 4, 3, 3), torch.randn(7)
    x, w, b = (t.requires_grad_() for t in (x, w, b))

    def literal(x, w, b):
        return F.avg_pool2d(F.conv2d(x, w, b, padding=1), 2)

    got = _grads(conv3x3_avgpool, x, w, b)
    assert got[0].shape == (3, 7, size // 2, size // 2)
    _assert_close(got, _grads(literal, x, w, b))


@pytest.mark.parametrize("make", [conv1x1, conv3x3])
@pytest.mark.parametrize("sn", [False, True])
def test_up_and_down_convs_agree_fused_and_literal_with_spectral_norm(make, sn):
    torch.manual_seed(2)
    conv = make(4, 6, sn).eval()  # eval: SN's u stays put, so both calls see one weight
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    for op in (up_conv, conv_down):
        fused = _grads(lambda x, op=op: op(conv, x, True), x)
        literal = _grads(lambda x, op=op: op(conv, x, False), x)
        _assert_close(fused, literal)


@pytest.mark.parametrize(
    "block",
    [
        lambda: GBlock(8, 4, 3, True, 1e-5),
        lambda: GBlock(8, 8, 0, True, 1e-5),
        lambda: DBlock(4, 8, True, True),
        lambda: DBlock(8, 8, False, True),
        lambda: DOptimizedBlock(3, 8, True),
    ],
    ids=["gblock-cond", "gblock-uncond", "dblock-down", "dblock-keep", "doptimized"],
)
def test_blocks_agree_fused_and_literal_in_training_mode(block):
    torch.manual_seed(3)
    fused = block().train()
    literal = copy.deepcopy(fused)  # same weights and SN vectors
    literal.fused_resampling = False
    y = torch.tensor([0, 2])
    x = torch.randn(2, fused.conv1.in_channels if hasattr(fused, "conv1") else 3, 8, 8)
    args = (y,) if isinstance(fused, GBlock) else ()
    if isinstance(fused, GBlock) and fused.cbn0.num_classes == 0:
        args = (None,)
    out_f = fused(x, *args)
    out_l = literal(x, *args)
    _assert_close([out_f], [out_l])
    proj = torch.randn(out_f.shape)
    (out_f * proj).sum().backward()
    (out_l * proj).sum().backward()
    # Relative to the largest gradient: a conv bias right before batch norm has a true
    # gradient of 0, so its own scale is rounding noise.
    scale = max(p.grad.abs().max() for p in literal.parameters())
    for (name, pf), pl in zip(fused.named_parameters(), literal.parameters(), strict=True):
        assert ((pf.grad - pl.grad).abs().max() / scale).item() < 1e-5, name
    assert fused.state_dict().keys() == literal.state_dict().keys()


@pytest.mark.parametrize("preset", ["digits", "cifar32"])
def test_networks_agree_on_the_fast_and_reference_math(preset):
    cfg = ModelConfig.from_preset(preset)
    torch.manual_seed(4)
    G, D = Generator(cfg).eval(), Discriminator(cfg).eval()
    z, y = torch.randn(3, cfg.z_dim), torch.tensor([0, 4, 9])
    outs = []
    for reference in (False, True):
        set_reference_math(G, reference)
        set_reference_math(D, reference)
        x = G(z, y)
        outs.append((x, D(x, y)))
    _assert_close(outs[0], outs[1], rtol=1e-5)
    assert all(not b.fused_resampling for b in G.blocks)


def test_fused_kernels_keep_the_weights_precision_under_autocast():
    from sagan.models.resample import conv3x3_avgpool_kernel, upsample_conv_kernel

    w = torch.randn(5, 4, 3, 3)
    for build in (upsample_conv_kernel, conv3x3_avgpool_kernel):
        plain = build(w)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            under = build(w)
        assert under.dtype == torch.float32
        assert torch.equal(under, plain)


@pytest.mark.parametrize(
    "switch, reference, fused",
    [("auto", False, True), ("off", False, False), ("on", False, True), ("auto", True, False)],
)
def test_the_switch_and_the_reference_path_reach_every_block(switch, reference, fused):
    from sagan.training.fast_path import prepare, resolve_speed

    speed = resolve_speed("auto", "off", "auto", reference, torch.device("cpu"), switch)
    assert speed.fused_resampling is fused
    cfg = ModelConfig.from_preset("digits")
    G, D = Generator(cfg), Discriminator(cfg)
    prepare(G, speed)
    prepare(D, speed)
    blocks = [m for m in (*G.modules(), *D.modules()) if hasattr(m, "fused_resampling")]
    assert len(blocks) == len(cfg.g_channels) - 1 + len(cfg.d_channels)
    assert all(b.fused_resampling is fused for b in blocks)
    assert ("literal resampling" in speed.describe()) is not fused
