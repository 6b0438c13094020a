"""Shapes, gradients and structure of G and D for every preset and option."""

from __future__ import annotations

import pytest
import torch

from sagan.commands.common import model_config
from sagan.errors import SaganError
from sagan.models import Discriminator, Generator, ResidualInsteadOfAttention, SelfAttention
from sagan.models.attention import attention_weight_count
from sagan.models.blocks import DBlock
from sagan.presets import PRESETS


def _nets(cfg):
    torch.manual_seed(0)
    return Generator(cfg), Discriminator(cfg)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_shapes_every_preset(preset):
    cfg = model_config(preset)
    G, D = _nets(cfg)
    z = torch.randn(2, cfg.z_dim)
    y = torch.randint(0, cfg.num_classes, (2,))
    x = G(z, y)
    assert x.shape == (2, 3, cfg.resolution, cfg.resolution)  # [NCHW]
    assert x.abs().max() <= 1.0
    out = D(x, y)
    assert out.shape == (2,)
    assert torch.isfinite(out).all()


VARIANTS = [
    dict(),
    dict(attn_variant="paper"),
    dict(residual_instead_of_attention=True),
    dict(attn_g=(8, 16), attn_d=(4, 8)),
    dict(attn_g=(), attn_d=()),
    dict(sn="none"),
    dict(sn="d"),
]


CASES = [("digits", v, k) for v in VARIANTS for k in (10, 0)] + [
    ("cifar32", {}, 10),
    ("tiny64", {}, 10),
]


@pytest.mark.parametrize(
    "preset,variant,num_classes",
    CASES,
    ids=[f"{p}-{k}-" + (",".join(f"{a}={v[a]}" for a in v) or "default") for p, v, k in CASES],
)
def test_every_parameter_gets_a_gradient(preset, variant, num_classes):
    cfg = model_config(preset, num_classes, **variant)
    G, D = _nets(cfg)
    for net in (G, D):
        for layer in net.attn.values():  # gamma = 0 would hide the branch's gradient
            layer.gamma.data.fill_(0.5)
    y = torch.randint(0, 10, (4,)) if num_classes else None
    x = G(torch.randn(4, cfg.z_dim), y)
    D(x, y).sum().backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name


def test_imagenet128_backward_reaches_every_parameter():
    cfg = model_config("imagenet128")
    G, D = _nets(cfg)
    for net in (G, D):
        net.attn["feat32"].gamma.data.fill_(0.5)
    y = torch.tensor([1, 999])
    D(G(torch.randn(2, 128), y), y).sum().backward()
    missing = [n for net in (G, D) for n, p in net.named_parameters() if p.grad is None]
    assert not missing


def test_attention_sites_follow_the_configured_sizes():
    cfg = model_config("imagenet128", attn_g=(8, 64), attn_d=(16, 4))
    G, D = _nets(cfg)
    assert sorted(G.attn) == ["feat64", "feat8"]
    assert sorted(D.attn) == ["feat16", "feat4"]
    assert G.attn["feat64"].query.in_channels == 128  # 2ch after the 32 -> 64 block
    assert D.attn["feat4"].query.in_channels == 1024  # after the first 4x4 block
    # D has two 4x4 blocks; attention follows only the first one.
    assert D.attn_sites.count("feat4") == 1 and D.attn_sites[4] == "feat4"


@pytest.mark.parametrize(
    "sizes", [dict(attn_g=(4,)), dict(attn_d=(7,)), dict(attn_g=(256,)), dict(attn_d=(128,))]
)
def test_attention_at_a_missing_size_is_a_clear_error(sizes):
    with pytest.raises(SaganError, match="choose --attn"):
        model_config("imagenet128", **sizes)


def test_residual_stand_in_has_the_attention_parameter_budget():
    for c in (64, 128, 256):
        attn = SelfAttention(c, "official")
        res = ResidualInsteadOfAttention(c, "official")
        n_attn = sum(p.numel() for p in attn.parameters())
        n_res = sum(p.numel() for p in res.parameters())
        assert n_attn == n_res == attention_weight_count(c, "official") + 1
    paper_a = sum(p.numel() for p in SelfAttention(256, "paper").parameters())
    paper_r = sum(p.numel() for p in ResidualInsteadOfAttention(256, "paper").parameters())
    assert abs(paper_a - paper_r) / paper_a < 0.05


def test_unconditional_model_has_no_class_parameters():
    cfg = model_config("digits", 0)
    G, D = _nets(cfg)
    assert D.embed is None
    names = [n for n, _ in G.named_parameters()]
    assert not [n for n in names if ".gamma.weight" in n or ".beta.weight" in n]
    x = G(torch.randn(3, cfg.z_dim))
    assert D(x).shape == (3,)


def test_d_block_entry_relu_is_out_of_place():
    torch.manual_seed(0)
    block = DBlock(8, 8, downsample=False, sn=False)
    assert block.conv_sc is None  # identity shortcut: it must see x itself
    x = torch.randn(2, 8, 6, 6)
    x_before = x.clone()
    out = block(x)
    h = block.conv2(torch.relu(block.conv1(torch.relu(x_before))))
    torch.testing.assert_close(out, h + x_before)
    torch.testing.assert_close(x, x_before)  # the input was not modified in place


def test_conditional_batch_norm_depends_on_the_label():
    cfg = model_config("digits", 10)
    G, _ = _nets(cfg)
    cbn = G.blocks[0].cbn0
    torch.nn.init.normal_(cbn.gamma.weight)
    torch.nn.init.normal_(cbn.beta.weight)
    x = torch.randn(4, cbn.bn.num_features, 4, 4)
    a = cbn(x, torch.tensor([0, 0, 0, 0]))
    b = cbn(x, torch.tensor([1, 1, 1, 1]))
    assert not torch.allclose(a, b)
    # Fresh CBN is plain batch norm: gamma = 1, beta = 0 for every class.
    fresh = Generator(cfg).blocks[0].cbn0
    torch.testing.assert_close(fresh(x, torch.tensor([0, 1, 2, 3])), fresh.bn(x))


def test_projection_term_changes_with_the_label():
    cfg = model_config("digits", 10)
    _, D = _nets(cfg)
    D.eval()
    x = torch.randn(2, 3, 16, 16)
    a = D(x, torch.tensor([0, 0]))
    b = D(x, torch.tensor([5, 5]))
    assert not torch.allclose(a, b)
    # The difference is exactly the projection: h . (e_0 - e_5).
    h = D.features(x)
    e = D.embed.weight
    torch.testing.assert_close(a - b, (h * (e[0] - e[5])).sum(1))


def test_gamma_starts_at_zero():
    G, D = _nets(model_config("imagenet128"))
    assert all(float(m.gamma.detach()) == 0.0 for net in (G, D) for m in net.attn.values())
