"""The attention block, spectral normalisation and the hinge losses."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

from sagan.commands.common import model_config
from sagan.losses import d_hinge_loss, d_hinge_loss_fake, d_hinge_loss_real, g_hinge_loss
from sagan.models import Discriminator, Generator, SelfAttention
from sagan.models.attention import attend, attention_map


@pytest.mark.parametrize("variant", ["official", "paper"])
def test_attention_is_identity_while_gamma_is_zero(variant):
    torch.manual_seed(0)
    block = SelfAttention(64, variant)
    x = torch.randn(2, 64, 8, 8)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)


@pytest.mark.parametrize("variant,n_keys", [("official", 16), ("paper", 64)])
def test_attention_map_shape_and_rows_sum_to_one(variant, n_keys):
    torch.manual_seed(0)
    block = SelfAttention(64, variant)
    _, beta = block(torch.randn(3, 64, 8, 8), return_attention=True)
    assert beta.shape == (3, 64, n_keys)  # [B, N, N_keys]
    assert (beta >= 0).all()
    torch.testing.assert_close(beta.sum(-1), torch.ones(3, 64))


@pytest.mark.parametrize("variant", ["official", "paper"])
def test_fused_attention_equals_the_explicit_map(variant):
    torch.manual_seed(0)
    block = SelfAttention(64, variant).eval()
    block.gamma.data.fill_(0.7)
    x = torch.randn(2, 64, 8, 8)
    fused = block(x)
    explicit, _ = block(x, return_attention=True)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)


def test_attend_uses_scale_one():
    q, k, v = torch.randn(1, 5, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 6)
    expected = torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v  # no 1/sqrt(d)
    torch.testing.assert_close(attend(q, k, v), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(attention_map(q, k) @ v, expected, rtol=1e-5, atol=1e-5)


def _sn_modules(net):
    return [m for m in net.modules() if parametrize.is_parametrized(m, "weight")]


@pytest.mark.parametrize(
    "sn,g_has,d_has", [("both", 1, 1), ("d", 0, 1), ("g", 1, 0), ("none", 0, 0)]
)
def test_sn_switch(sn, g_has, d_has):
    cfg = model_config("digits", 10, sn=sn)
    G, D = Generator(cfg), Discriminator(cfg)
    assert bool(_sn_modules(G)) == bool(g_has)
    assert bool(_sn_modules(D)) == bool(d_has)


def test_every_weight_layer_is_normalised_including_attention_and_embedding():
    cfg = model_config("digits", 10)
    G, D = Generator(cfg), Discriminator(cfg)
    convs_and_linears = [
        m
        for net in (G, D)
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
    ]
    assert all(parametrize.is_parametrized(m, "weight") for m in convs_and_linears)
    assert parametrize.is_parametrized(D.embed, "weight")
    assert parametrize.is_parametrized(D.attn["feat8"].query, "weight")


def test_spectral_norm_of_each_normalised_weight_is_about_one():
    torch.manual_seed(0)
    cfg = model_config("digits", 10)
    G, D = Generator(cfg), Discriminator(cfg)
    y = torch.randint(0, 10, (4,))
    D(G(torch.randn(4, cfg.z_dim), y), y)  # one training step's power iteration
    modules = _sn_modules(G) + _sn_modules(D)
    assert len(modules) > 20
    for m in modules:
        # Each access of .weight in training mode runs one more power iteration; the
        # slowest layer here (3 -> 32 conv, small spectral gap) needs a few hundred.
        for _ in range(300):
            w = m.weight.detach()
        sigma = torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.01), m


def test_hinge_losses_on_hand_computed_inputs():
    real = torch.tensor([2.0, 0.5, -1.0])  # relu(1 - x) = 0, 0.5, 2.0 -> mean 0.8333
    fake = torch.tensor([-2.0, 0.0, 1.0])  # relu(1 + x) = 0, 1, 2 -> mean 1.0
    assert d_hinge_loss_real(real).item() == pytest.approx(2.5 / 3)
    assert d_hinge_loss_fake(fake).item() == pytest.approx(1.0)
    assert d_hinge_loss(real, fake).item() == pytest.approx(2.5 / 3 + 1.0)
    assert g_hinge_loss(fake).item() == pytest.approx(1.0 / 3 * -(-2.0 + 0.0 + 1.0))
    assert g_hinge_loss(torch.tensor([3.0, 1.0])).item() == pytest.approx(-2.0)
