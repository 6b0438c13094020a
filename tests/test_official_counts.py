"""The imagenet128 preset has exactly the official TensorFlow model's trainable variables.

The inventory below lists every trainable variable that the official
``generator_test`` and ``discriminator_test`` create (gf_dim = df_dim = 64,
z_dim = 128, 1000 classes), by scope name and shape, from ops.py, non_local.py,
generator.py and discriminator.py. SN's ``u`` vectors are not trainable and the
official CBN's moving mean and variance are not trainable either.
"""

from __future__ import annotations

import math

import torch

from sagan.commands.common import model_config
from sagan.models import Discriminator, Generator

OFFICIAL_G_PARAMS = 42_078_852
OFFICIAL_D_PARAMS = 39_463_618
OFFICIAL_G_VARIABLES = 61
OFFICIAL_D_VARIABLES = 42


def _snconv(k, cin, cout):
    return {"w": (k, k, cin, cout), "biases": (cout,)}


def _non_local(c):
    return {
        "sn_conv_theta/w": (1, 1, c, c // 8),
        "sn_conv_phi/w": (1, 1, c, c // 8),
        "sn_conv_g/w": (1, 1, c, c // 2),
        "sn_conv_attn/w": (1, 1, c // 2, c),
        "sigma_ratio": (),
    }


def official_generator_variables(k=1000, gf=64):
    v = {"g_snh0/Matrix": (128, gf * 16 * 4 * 4), "g_snh0/bias": (gf * 16 * 4 * 4,)}
    chans = [gf * 16, gf * 16, gf * 8, gf * 4, gf * 2, gf]
    for i in range(5):
        cin, cout, p = chans[i], chans[i + 1], f"g_block{i + 1}/"
        v.update({p + "cbn_0/gamma": (k, cin), p + "cbn_0/beta": (k, cin)})
        v.update({p + "cbn_1/gamma": (k, cout), p + "cbn_1/beta": (k, cout)})
        v.update({p + "snconv1/" + n: s for n, s in _snconv(3, cin, cout).items()})
        v.update({p + "snconv2/" + n: s for n, s in _snconv(3, cout, cout).items()})
        v.update({p + "snconv3/" + n: s for n, s in _snconv(1, cin, cout).items()})
    v.update({"g_non_local/" + n: s for n, s in _non_local(gf * 4).items()})
    v.update({"g_bn/gamma": (gf,), "g_bn/beta": (gf,)})
    v.update({"g_snconv_last/" + n: s for n, s in _snconv(3, gf, 3).items()})
    return v


def official_discriminator_variables(k=1000, df=64):
    p = "d_optimized_block1/"
    v = {p + "sn_conv1/" + n: s for n, s in _snconv(3, 3, df).items()}
    v.update({p + "sn_conv2/" + n: s for n, s in _snconv(3, df, df).items()})
    v.update({p + "sn_conv3/" + n: s for n, s in _snconv(1, 3, df).items()})
    chans = [df, df * 2, df * 4, df * 8, df * 16, df * 16]
    down = [True, True, True, True, False]
    for i in range(5):
        cin, cout, p = chans[i], chans[i + 1], f"d_block{i + 2}/"
        v.update({p + "sn_conv1/" + n: s for n, s in _snconv(3, cin, cout).items()})
        v.update({p + "sn_conv2/" + n: s for n, s in _snconv(3, cout, cout).items()})
        if down[i] or cin != cout:
            v.update({p + "sn_conv3/" + n: s for n, s in _snconv(1, cin, cout).items()})
    v.update({"d_non_local/" + n: s for n, s in _non_local(df * 2).items()})
    v.update({"d_sn_linear/Matrix": (df * 16, 1), "d_sn_linear/bias": (1,)})
    v["d_embedding/embedding_map"] = (k, df * 16)
    return v


def _count(variables):
    return sum(math.prod(s) for s in variables.values())


def _trainable(net):
    return [p for p in net.parameters() if p.requires_grad]


def test_inventory_matches_the_recorded_numbers():
    g, d = official_generator_variables(), official_discriminator_variables()
    assert (len(g), _count(g)) == (OFFICIAL_G_VARIABLES, OFFICIAL_G_PARAMS)
    assert (len(d), _count(d)) == (OFFICIAL_D_VARIABLES, OFFICIAL_D_PARAMS)


def test_imagenet128_matches_the_official_model_variable_for_variable():
    cfg = model_config("imagenet128", 1000)
    torch.manual_seed(0)
    G, D = Generator(cfg), Discriminator(cfg)
    assert sum(p.numel() for p in _trainable(G)) == OFFICIAL_G_PARAMS
    assert sum(p.numel() for p in _trainable(D)) == OFFICIAL_D_PARAMS
    assert len(_trainable(G)) == OFFICIAL_G_VARIABLES
    assert len(_trainable(D)) == OFFICIAL_D_VARIABLES
    # Same multiset of tensor sizes (TF stores conv kernels HWIO, torch OIHW).
    ours_g = sorted(p.numel() for p in _trainable(G))
    ours_d = sorted(p.numel() for p in _trainable(D))
    assert ours_g == sorted(math.prod(s) for s in official_generator_variables().values())
    assert ours_d == sorted(math.prod(s) for s in official_discriminator_variables().values())


def test_info_reports_the_official_counts(capsys):
    import json

    from sagan.cli import main

    assert main(["info", "--preset", "imagenet128", "--num-classes", "1000"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["g_params"], info["d_params"]) == (OFFICIAL_G_PARAMS, OFFICIAL_D_PARAMS)
    assert info["attn_g"] == [32] and info["attn_d"] == [32] and info["resolution"] == 128
