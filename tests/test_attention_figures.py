"""Attention-map figures (the paper's Figures 1 and 5) from a tiny checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sagan.cli import main
from sagan.viz.attention import attention_grid_figure, pick_queries, pixel_query, query_pixel


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("att") / "runs"
    assert (
        main(["train", "--steps", "2", "--batch", "8", "--out", str(out), "--no-tensorboard"]) == 0
    )
    return next(out.iterdir())


def test_figure_has_one_panel_per_query_plus_the_image():
    beta = torch.softmax(torch.randn(64, 16), dim=1)
    rows = [
        (torch.zeros(3, 16, 16), beta, [0, 5, 9], "a"),
        (torch.zeros(3, 16, 16), beta, [1, 2, 3], "b"),
    ]
    fig = attention_grid_figure(rows)
    assert len(fig.axes) == 2 * 4


@pytest.mark.parametrize("network,extra", [("g", []), ("d", ["--real", "digits"]), ("d", [])])
def test_attention_command_writes_figure_and_maps_that_sum_to_one(run, tmp_path, network, extra):
    out = tmp_path / "fig.png"
    argv = [
        "attention",
        "--ckpt",
        str(run),
        "--out",
        str(out),
        "--network",
        network,
        "--n-queries",
        "3",
        *extra,
    ]
    assert main(argv) == 0
    assert out.stat().st_size > 1000
    raw = np.load(out.with_suffix(".npz"))
    beta = raw["map_0"]
    assert beta.shape == (64, 16)  # 8x8 queries, 2x2-pooled 4x4 keys (official variant)
    np.testing.assert_allclose(beta.sum(axis=1), 1.0, rtol=1e-5)
    assert len(raw["queries_0"]) == 3 and str(raw["layer"]) == "feat8"


def test_grid_of_classes_and_explicit_queries(run, tmp_path):
    out = tmp_path / "grid.png"
    argv = [
        "attention",
        "--ckpt",
        str(run),
        "--out",
        str(out),
        "--grid",
        "--classes",
        "0,5,9",
        "--queries",
        "1,1;15,15",
    ]
    assert main(argv) == 0
    raw = np.load(out.with_suffix(".npz"))
    assert [tuple(raw[f"class_seed_{i}"]) for i in range(3)] == [(0, 0), (5, 0), (9, 0)]
    assert list(raw["queries_0"]) == [0, 63]  # top-left and bottom-right cells of the 8x8 grid


def test_bad_attention_requests(run, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    assert main(["attention", "--ckpt", str(run), "--out", out, "--layer", "feat4"]) == 2
    assert "choose from feat8" in capsys.readouterr().err
    assert main(["attention", "--ckpt", str(run), "--out", out, "--queries", "40,1"]) == 2
    assert "outside the 16x16 image" in capsys.readouterr().err
    assert main(["attention", "--ckpt", str(run), "--out", out, "--class", "11"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_query_geometry_and_auto_queries_differ():
    assert query_pixel(0, 64, 16) == (1.0, 1.0) and pixel_query(15.9, 15.9, 64, 16) == 63
    beta = torch.zeros(4, 4)
    beta[0, 0] = beta[1, 0] = beta[2, 3] = beta[3, 2] = 1.0
    chosen = pick_queries(beta + 1e-3, 2)
    assert len(set(chosen)) == 2 and not ({0, 1} <= set(chosen))
