"""Samples for other tools (single PNGs, resumable, one .npz) and interpolation walks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import sagan
from sagan.cli import main
from sagan.interpolation import MIN_TILE, PADDING, class_mix, interpolation_frames, slerp
from sagan.metrics.digits import quantize
from sagan.pretrained import load
from sagan.sampling import index_latents


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _files(root) -> dict:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_sample_images_uniform_classes_resume_and_npz(ema_run, tmp_path, capsys):
    out, npz = tmp_path / "samples", tmp_path / "samples.npz"
    argv = ["sample", "--ckpt", str(ema_run), "--out", str(out), "--images", "100"]
    argv += ["--batch", "32", "--device", "cpu", "--seed", "4"]
    assert main([*argv, "--npz", str(npz)]) == 0
    per_class = {d.name: sorted(p.name for p in d.iterdir()) for d in out.iterdir() if d.is_dir()}
    assert {c: len(names) for c, names in per_class.items()} == {str(c): 10 for c in range(10)}
    assert per_class["3"][:2] == ["000003.png", "000013.png"]

    # The PNGs hold G's images of each index, quantised as evaluation quantises them.
    G = load(ema_run).G
    z = index_latents(range(32), 128, seed=4, truncation=None)
    expected = quantize(G.sample(torch.arange(32) % 10, z=z)).permute(0, 2, 3, 1).numpy()
    for i in range(32):
        assert np.array_equal(_png(out / str(i % 10) / f"{i:06d}.png"), expected[i])

    # --npz: one uint8 [N, H, W, 3] array with exactly the PNGs' pixels, and the labels.
    data = np.load(npz)
    assert data["x"].shape == (100, 16, 16, 3) and data["x"].dtype == np.uint8
    assert np.array_equal(data["y"], np.arange(100) % 10)
    for i in range(100):
        assert np.array_equal(data["x"][i], _png(out / str(i % 10) / f"{i:06d}.png"))

    # A rerun writes nothing; a rerun after losing files writes exactly those, identically.
    before = _files(out)
    capsys.readouterr()
    assert main(argv) == 0
    assert "wrote 0 images" in capsys.readouterr().out and _files(out) == before
    lost = [out / "5" / "000005.png", out / "0" / "000040.png", out / "9" / "000099.png"]
    contents = [p.read_bytes() for p in lost]
    for p in lost:
        p.unlink()
    assert main(argv) == 0
    assert "wrote 3 images" in capsys.readouterr().out
    assert [p.read_bytes() for p in lost] == contents
    assert {p: s for p, s in _files(out).items() if p not in lost} == {
        p: s for p, s in before.items() if p not in lost
    }


def test_sample_images_with_classes_and_truncation(ema_run, tmp_path):
    out = tmp_path / "some"
    argv = ["sample", "--ckpt", str(ema_run), "--out", str(out), "--images", "7"]
    assert main([*argv, "--classes", "2,5", "--truncation", "0.5", "--device", "cpu"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "2/000000.png", "2/000002.png", "2/000004.png", "2/000006.png",
        "5/000001.png", "5/000003.png", "5/000005.png",
    ]  # fmt: skip


def test_class_weights_one_hot_give_exactly_the_labels_images():
    G = sagan.Generator(sagan.ModelConfig.from_preset("digits")).eval()
    for m in G.modules():
        if isinstance(getattr(m, "gamma", None), torch.nn.Embedding):
            torch.nn.init.normal_(m.gamma.weight)
            torch.nn.init.normal_(m.beta.weight)
    z, y = torch.randn(5, 128), torch.tensor([0, 3, 3, 7, 9])
    with torch.no_grad():
        assert torch.equal(G(z, torch.nn.functional.one_hot(y, 10).float()), G(z, y))
        half = 0.5 * (
            torch.nn.functional.one_hot(y, 10) + torch.nn.functional.one_hot(y.flip(0), 10)
        )
        assert not torch.equal(G(z, half.float()), G(z, y))
    cbn = G.blocks[0].cbn0
    mixed = sagan.models.layers.class_rows(cbn.gamma.weight, class_mix(2, 6, 0.25, 10)[None])
    assert torch.allclose(mixed[0], 0.75 * cbn.gamma.weight[2] + 0.25 * cbn.gamma.weight[6])


def test_slerp_keeps_the_end_points_and_the_norm_between_equal_norms():
    z0, z1 = torch.randn(2, 128, generator=torch.Generator().manual_seed(0))
    z1 = z1 / z1.norm() * z0.norm()
    assert torch.equal(slerp(z0, z1, 0.0), z0) and torch.equal(slerp(z0, z1, 1.0), z1)
    assert torch.isclose(slerp(z0, z1, 0.3).norm(), z0.norm(), rtol=1e-5)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_interpolation_end_frames_are_G_sample_at_the_end_points(ema_run, tmp_path, suffix):
    G = load(ema_run).G
    steps, seed = 5, 7
    frames, rows = interpolation_frames(G, [3, 8], steps, seed)
    assert frames.shape == (2, steps, 3, 16, 16) and len(rows) == 2
    z0, z1 = torch.randn(2, 128, generator=torch.Generator().manual_seed(seed))
    ends = {
        (0, 0): G.sample([3], z=z0[None]),
        (0, -1): G.sample([3], z=z1[None]),
        (1, 0): G.sample([3], z=z0[None]),
        (1, -1): G.sample([8], z=z0[None]),
    }
    for (row, col), image in ends.items():
        assert torch.equal(frames[row, col], image[0]), (row, col)
    assert not torch.equal(frames[0, 2], frames[0, 0]) and not torch.equal(
        frames[1, 2], frames[1, 0]
    )

    out = tmp_path / f"walk{suffix}"
    argv = ["interpolate", "--ckpt", str(ema_run), "--out", str(out), "--classes", "3,8"]
    assert main([*argv, "--steps", str(steps), "--seed", str(seed), "--device", "cpu"]) == 0
    scale = MIN_TILE // 16
    tile = 16 * scale + PADDING
    if suffix == ".gif":
        with Image.open(out) as im:
            assert im.n_frames == steps and im.size == (2 * tile + PADDING, tile + PADDING)
        return
    strip = _png(out)
    assert strip.shape == (2 * tile + PADDING, steps * tile + PADDING, 3)
    for (row, col), image in ends.items():
        c = col % steps
        top, left = PADDING + row * tile, PADDING + c * tile
        cell = strip[top : top + 16 * scale : scale, left : left + 16 * scale : scale]
        assert np.array_equal(cell, quantize(image)[0].permute(1, 2, 0).numpy()), (row, col)
