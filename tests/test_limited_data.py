"""Limited-data options: DiffAugment, the adaptive probability p, LeCam, data fractions."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from states import assert_same_state

from sagan.config import parse_policy
from sagan.data.subset import stratified_indices
from sagan.losses import lecam_regulariser
from sagan.training.augment import (
    AdaptiveProbability,
    Augment,
    ada_update,
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    cutout,
    translate,
)
from sagan.training.checkpoint import list_checkpoints, load_checkpoint
from sagan.training.lecam import LeCamAnchors, ema_update
from sagan.training.loop import train

POLICIES = ["color", "translation", "cutout", "color,translation,cutout"]


def _images(dtype=torch.float32, n=6, size=16, grad=False):
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return x.to(dtype).requires_grad_(grad)


def _draws(aug: Augment, n: int, size: int = 16, seed: int = 1):
    return aug.draw(n, size, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_augmentation_keeps_shape_and_dtype_and_passes_gradients(policy, dtype):
    aug = Augment(parse_policy(policy))
    x = _images(dtype, grad=True)
    y = aug(x, _draws(aug, 6), 1.0)
    assert y.shape == x.shape and y.dtype == dtype
    y.float().square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not torch.equal(y.detach(), x.detach())


@pytest.mark.parametrize("policy", POLICIES)
def test_augmentation_is_the_identity_at_p_zero(policy):
    aug = Augment(parse_policy(policy))
    x = _images()
    assert torch.equal(aug(x, _draws(aug, 6), 0.0), x)


def test_p_chooses_which_images_are_augmented():
    aug = Augment(("translation",))
    x, draws = _images(n=400), _draws(Augment(("translation",)), 400)
    y = aug(x, draws, 0.3)
    changed = (y != x).flatten(1).any(dim=1)
    expected = (draws["apply"][0] < 0.3) & (draws["translation"].abs().sum(dim=0) > 0)
    assert torch.equal(changed, expected)
    assert 0.2 < changed.float().mean() < 0.35


def test_colour_transforms_on_known_values():
    x = torch.tensor([[0.2, -0.4, 0.8]]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2).contiguous()
    half = torch.tensor([0.5])
    assert torch.allclose(adjust_brightness(x, torch.tensor([0.75])), x + 0.25)
    assert torch.allclose(adjust_saturation(x, half), x)  # factor 2 * 0.5 = 1
    grey = adjust_saturation(x, torch.tensor([0.0]))
    assert torch.allclose(grey, torch.full_like(x, 0.2))  # every channel becomes the mean
    assert torch.allclose(adjust_contrast(x, half), x)  # factor 0.5 + 0.5 = 1


def test_translation_and_cutout_on_known_values():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    right = translate(x, torch.tensor([1]), torch.tensor([0]), pad=2)
    assert torch.equal(right[0, 0, :, 1:], x[0, 0, :, :3]) and (right[0, 0, :, 0] == 0).all()
    up = translate(x, torch.tensor([0]), torch.tensor([-2]), pad=2)
    assert torch.equal(up[0, 0, :2], x[0, 0, 2:]) and (up[0, 0, 2:] == 0).all()
    cut = cutout(torch.ones(1, 1, 4, 4), torch.tensor([1]), torch.tensor([2]), size=2)
    expected = torch.ones(4, 4)
    expected[1:3, 0:2] = 0
    assert torch.equal(cut[0, 0], expected)


def test_lecam_term_on_hand_computed_inputs():
    real = torch.tensor([1.0, -0.5, 2.0])
    fake = torch.tensor([-1.0, 0.5])
    alpha_r, alpha_f = torch.tensor(0.8), torch.tensor(-0.2)
    # relu(real - alpha_F)^2 = [1.2^2, 0, 2.2^2]; relu(alpha_R - fake)^2 = [1.8^2, 0.3^2]
    expected = (1.44 + 0 + 4.84) / 3 + (3.24 + 0.09) / 2
    got = lecam_regulariser(real, fake, alpha_r, alpha_f)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    real.requires_grad_(True)
    lecam_regulariser(real, fake, alpha_r.requires_grad_(True), alpha_f).backward()
    assert alpha_r.grad is None  # the anchors are constants of the term


def test_lecam_anchors_follow_the_means_then_average():
    anchors = LeCamAnchors(decay=0.9, start=1, device=torch.device("cpu"))
    anchors.update(torch.tensor([2.0, 4.0]), torch.tensor([-1.0]))
    assert anchors.real.item() == 3.0 and anchors.fake.item() == -1.0  # decay 0 before start
    anchors.update(torch.tensor([13.0]), torch.tensor([9.0]))
    assert anchors.real.item() == pytest.approx(0.9 * 3 + 0.1 * 13)
    assert ema_update(torch.tensor(1.0), torch.tensor(3.0), 0.5).item() == 2.0


def test_p_update_moves_the_right_way():
    p = torch.tensor(0.5)
    assert ada_update(p, torch.tensor(0.9), 0.6, 0.1).item() == pytest.approx(0.6)  # overfits
    assert ada_update(p, torch.tensor(0.2), 0.6, 0.1).item() == pytest.approx(0.4)
    assert ada_update(torch.tensor(0.98), torch.tensor(1.0), 0.6, 0.1).item() == 1.0  # clipped
    assert ada_update(torch.tensor(0.02), torch.tensor(-1.0), 0.6, 0.1).item() == 0.0
    prob = AdaptiveProbability(0.0, 0.6, 2, 0.25, torch.device("cpu"))
    prob.observe(torch.tensor([3.0, 1.0, -1.0, 2.0]))  # one D step: no adjustment yet
    assert prob.p.item() == 0.0
    prob.observe(torch.tensor([1.0, 1.0, 1.0, 1.0]))  # r_t = 6/8 = 0.75 > 0.6: p rises
    assert prob.r_t.item() == 0.75 and prob.p.item() == 0.25


def test_stratified_fraction_keeps_each_class_share():
    labels = torch.tensor([0] * 10 + [1] * 20 + [2] * 3)
    half = stratified_indices(labels, 0.5, seed=0)
    assert [int((labels[half] == c).sum()) for c in range(3)] == [5, 10, 2]
    quarter = stratified_indices(labels, 0.25, seed=0)
    assert set(quarter.tolist()) <= set(half.tolist())  # smaller shares nest in larger ones


ALL_ON = dict(
    diffaugment="color,translation,cutout",
    ada_target=0.6,
    ada_interval=1,
    ada_kimg=0.1,
    augment_p=0.5,
    lecam=0.3,
    lecam_start=2,
    ema=True,
    data_fraction=0.5,
)


def test_resume_with_every_option_is_bit_identical(tiny_train_config, tmp_path):
    full = train(tiny_train_config(out=str(tmp_path / "a"), steps=6, **ALL_ON), quiet=True)
    part_cfg = tiny_train_config(out=str(tmp_path / "b"), steps=3, **ALL_ON)
    part = train(part_cfg, quiet=True)
    train(dataclasses.replace(part_cfg, steps=6), resume=part, quiet=True)
    a = load_checkpoint(list_checkpoints(full)[-1])
    b = load_checkpoint(list_checkpoints(part)[-1])
    assert_same_state(a, b)
    la, lb = a["limited_data"], b["limited_data"]
    for key in ("p", "r_t", "signs"):
        assert torch.equal(la["prob"][key], lb["prob"][key]), key
    assert la["prob"]["seen"] == lb["prob"]["seen"] == 6
    assert torch.equal(la["lecam"]["real"], lb["lecam"]["real"])
    assert torch.equal(la["lecam"]["fake"], lb["lecam"]["fake"])
    assert torch.equal(la["gen"], lb["gen"])
    rows = [json.loads(r) for r in (part / "stats.jsonl").read_text().splitlines()]
    assert len({r["augment_p"] for r in rows}) > 1  # p moved by 0.08 a step, and resumed
    assert {"augment_p", "ada_r_t", "d_lecam", "lecam_anchor_real"} <= rows[-1].keys()
    config = json.loads((part / "config.json").read_text())
    assert config["diffaugment"] == "color,translation,cutout" and config["lecam"] == 0.3


def test_every_option_off_is_the_official_step(tiny_train_config, tmp_path):
    """Default options leave no trace: the run equals one made before they existed."""
    from sagan.training.distributed import World
    from sagan.training.limited_data import LimitedData

    cfg = tiny_train_config(out=str(tmp_path))
    assert LimitedData.from_config(cfg, torch.device("cpu"), World()) is None
    run = train(cfg, quiet=True)
    assert load_checkpoint(list_checkpoints(run)[-1])["limited_data"] is None
