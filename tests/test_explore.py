"""``sagan explore`` without a browser: loading, views, clicks, uploads and the page's
maps against ``sagan attention``'s .npz (the browser test drives the served page)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import socket

import numpy as np
import pytest
import torch
from PIL import Image

from sagan.cli import main
from sagan.commands.explore import is_loopback, load_models, page_url
from sagan.commands.explore_maps import encode_map
from sagan.commands.explore_view import (
    GRID_SAMPLES,
    MAX_QUERIES,
    VIEW_PIXELS,
    Explorer,
    View,
    add_point,
    read_upload,
)
from sagan.errors import SaganError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-step run of the digits preset on a folder of three named classes."""
    root = tmp_path_factory.mktemp("explore")
    rng = np.random.default_rng(1)
    for name in ("cat", "dog", "owl"):
        (root / "data" / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "data" / name / f"{i}.png")
    out = root / "runs"
    argv = ["train", "--data", str(root / "data"), "--steps", "2", "--batch", "8"]
    assert main([*argv, "--out", str(out), "--no-tensorboard"]) == 0
    return next(out.iterdir())


@pytest.fixture(scope="module")
def explorer(run):
    G, D, names = load_models(str(run), "cpu")
    explorer = Explorer(G, D, names)
    yield explorer
    shutil.rmtree(explorer.workdir, ignore_errors=True)


def _card_values(html: str) -> list[tuple[int, np.ndarray]]:
    found = re.findall(r'data-query="(\d+)".*?data-values="([^"]+)"', html)
    return [(int(q), np.array([float(v) for v in values.split(",")])) for q, values in found]


def test_sources_load_with_class_names_and_d_only_from_checkpoints(run, tmp_path):
    G, D, names = load_models(str(run), "cpu")
    assert names == ["cat", "dog", "owl"] and D is not None and not G.training
    ckpt = sorted((run / "checkpoints").iterdir())[-1]
    assert load_models(str(ckpt), "cpu")[1] is not None
    assert main(["export", "--ckpt", str(run), "--out", str(tmp_path / "exported")]) == 0
    G2, D2, names2 = load_models(str(tmp_path / "exported"), "cpu")
    assert D2 is None and names2 == names
    z = torch.randn(1, G.cfg.z_dim)
    torch.testing.assert_close(G2(z, torch.tensor([1])), G(z, torch.tensor([1])))
    page_of_export = Explorer(G2, D2, names2)
    assert page_of_export.networks() == ["G"]
    shutil.rmtree(page_of_export.workdir)


@pytest.mark.parametrize("network", ["g", "d"])
def test_the_page_maps_are_the_npz_rows_of_sagan_attention(run, explorer, tmp_path, network):
    points = [(2.0, 3.0), (13.5, 9.25)]
    view = View(cls=1, seed=5, network=network.upper(), layer="feat8", points=tuple(points))
    cards = _card_values(explorer.map_cards(view, None))
    out = tmp_path / "fig.png"
    queries = ";".join(f"{x},{y}" for x, y in points)
    argv = ["attention", "--ckpt", str(run), "--out", str(out), "--class", "1", "--seed", "5"]
    assert main([*argv, "--network", network, "--queries", queries]) == 0
    raw = np.load(out.with_suffix(".npz"))
    assert [q for q, _ in cards] == list(raw["queries_0"])
    for (_, values), row in zip(cards, raw["map_0"][raw["queries_0"]]):
        np.testing.assert_array_equal(values.astype(np.float32), row)
    image, beta, queries, _ = explorer.rows(view, None)[0]
    np.testing.assert_array_equal(image.numpy(), raw["image_0"])
    np.testing.assert_array_equal(beta.numpy(), raw["map_0"])
    assert queries == list(raw["queries_0"])


def test_a_map_image_reads_back_within_its_rounding():
    row = torch.softmax(torch.randn(16) * 3, dim=0)
    pixels, top = encode_map(row)
    assert pixels.shape == (4, 4) and pixels.max() == 255 and top == pytest.approx(row.max().item())
    np.testing.assert_allclose(pixels.reshape(-1) / 255 * top, row.numpy(), atol=top / 510 + 1e-7)


def test_queries_are_at_most_four_and_the_oldest_goes_first():
    view = View()
    for i in range(MAX_QUERIES + 2):
        view = add_point(view, float(i), 1.0)
    assert [x for x, _ in view.points] == [4.0, 5.0, 2.0, 3.0]
    assert view.next_slot == 2


def test_clicks_map_to_pixels_and_the_grid_opens_the_sample_clicked(explorer):
    from sagan.commands.explore_page import grid_click

    view = explorer.first_view()
    large = explorer.large_image(view, None)
    assert large.shape == (VIEW_PIXELS, VIEW_PIXELS, 3)
    # The large image is the sample, nearest-upscaled: pixel p shows image pixel p * R / 512.
    image, _ = explorer.image_and_maps(view, None)
    u8 = ((image.clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy()
    assert np.abs(large[16::32, 16::32].astype(float) - u8).max() <= 1
    grid_view = dataclasses.replace(view, mode="grid", seed=10)
    grid = explorer.large_image(grid_view, None)
    tile, gap = explorer.tile(), 4
    assert tile == 128 and grid.shape == (2 * tile + 3 * gap, 4 * tile + 5 * gap, 3)
    assert explorer.grid_sample(gap + tile + gap + 10, gap + tile + gap + 10) == 5
    assert explorer.grid_sample(gap + tile + 1, 10) is None  # the gap between two samples
    seen = {
        explorer.grid_sample(gap + c * (tile + gap) + 5, gap + r * (tile + gap) + 5)
        for r in (0, 1)
        for c in range(4)
    }
    assert seen == set(range(GRID_SAMPLES))
    opened = grid_click(explorer, grid_view, gap + 2 * (tile + gap) + 20, 30)
    assert (opened.mode, opened.seed) == ("single", 12)
    sample, _ = explorer.image_and_maps(opened, None)
    left = gap + 2 * (tile + gap)
    shown = grid[gap : gap + tile : tile // 16, left : left + tile : tile // 16].astype(float)
    expected = ((sample.clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy()
    assert np.abs(shown - expected).max() <= 1  # a batch of 8 may round a value differently


def test_truncation_and_new_samples_change_the_image_and_the_figure_downloads(explorer):
    view = dataclasses.replace(explorer.first_view(), points=((8.0, 8.0),))
    plain, _ = explorer.image_and_maps(view, None)
    cut, _ = explorer.image_and_maps(dataclasses.replace(view, truncation=0.5), None)
    other, _ = explorer.image_and_maps(dataclasses.replace(view, seed=1), None)
    assert not torch.equal(plain, cut) and not torch.equal(plain, other)
    path = explorer.figure_file(view, None)
    with Image.open(path) as fig:
        assert fig.format == "PNG" and fig.width > 300
    table = explorer.layer_table(view)
    assert "feat8" in table and "4x4 (2x2 max-pooled)" in table and "8x8" in table


def test_auto_queries_are_the_ones_sagan_attention_picks(explorer):
    from sagan.viz.attention import pick_queries, pixel_query

    view = explorer.auto_points(explorer.first_view(), None)
    _, maps = explorer.image_and_maps(view, None)
    picked = [pixel_query(x, y, 64, 16) for x, y in view.points]
    assert picked == pick_queries(maps["feat8"], MAX_QUERIES)


def _png(path, size=(20, 12)):
    Image.fromarray(np.full((*size, 3), 90, np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    "make,phrase",
    [
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100)), "not a readable image"),
        (lambda p: p.write_bytes(b"plain text, not an image"), "not a readable image"),
        (lambda p: p.write_bytes(_png(p).read_bytes()[:60]), "could not be decoded"),
        (lambda p: Image.new("RGB", (8, 8)).save(p, format="PCX"), "PCX image: upload PNG, JPEG"),
        (lambda p: p.write_bytes(b"\0" * (20 * 2**20 + 1)), "at most 20 MB"),
    ],
    ids=["png-garbage", "text", "truncated", "other-format", "too-large"],
)
def test_a_bad_upload_is_a_message(tmp_path, make, phrase):
    path = tmp_path / "upload.png"
    make(path)
    with pytest.raises(SaganError, match=phrase):
        read_upload(path, 16)


def test_an_upload_is_resized_as_training_data_and_shown_to_d(explorer, tmp_path):
    image = read_upload(_png(tmp_path / "wide.png", size=(12, 40)), 16)
    assert image.shape == (3, 16, 16) and image.min() >= -1 and image.max() <= 1
    view = dataclasses.replace(explorer.first_view(), network="D upload", points=((4.0, 4.0),))
    html = explorer.map_cards(view, image)
    assert 'data-source="upload"' in html and len(_card_values(html)) == 1
    with pytest.raises(SaganError, match="no image uploaded"):
        explorer.map_cards(view, None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_check_builds_the_page_and_warns_when_open_to_the_network(run, capsys):
    port = str(_free_port())
    assert main(["explore", str(run), "--check", "--port", port]) == 0
    out = capsys.readouterr()
    assert "G: feat8 (gamma" in out.out and "--check: not serving" in out.out
    assert "warning" not in out.err
    assert main(["explore", str(run), "--check", "--host", "0.0.0.0", "--port", port]) == 0
    assert "warning: --host 0.0.0.0 opens the page to the network" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    assert page_url("0.0.0.0", 7860) == "http://127.0.0.1:7860/"


def test_control_values_from_the_page_are_kept_in_range():
    from sagan.commands.explore_page import MAX_SEED, clamp, truncation

    assert clamp(-3, 0, 9) == 0 and clamp(12.0, 0, 9) == 9 and clamp(None, 0, 9) == 0
    assert clamp(10**30, 0, MAX_SEED) == MAX_SEED and clamp("x", 0, 9) == 0
    assert truncation(0) is None and truncation(-1) is None and truncation(0.5) == 0.5
    assert truncation(float("nan")) is None and truncation(None) is None
