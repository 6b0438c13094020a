"""The command line: info, sample, train on a folder, resume (bad input: test_bad_input.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sagan.cli import main


def _image_folder(root: Path, classes=("cat", "dog"), per_class=6, size=(20, 14)) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")
    return root


@pytest.fixture
def digits_run(tmp_path):
    out = tmp_path / "runs"
    assert (
        main(["train", "--steps", "2", "--batch", "8", "--out", str(out), "--log-every", "1"]) == 0
    )
    return next(out.iterdir())


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "sagan", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "train" in out.stdout and "sample" in out.stdout


def test_info_prints_counts_placements_and_resolution(capsys):
    assert main(["info", "--preset", "cifar32", "--num-classes", "10", "--attn-g", "8,16"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["resolution"] == 32 and info["attn_g"] == [8, 16] and info["attn_d"] == [16]
    assert info["g_params"] > info["d_params"] > 0


def test_sample_writes_a_grid_one_row_per_class(digits_run, tmp_path):
    out = tmp_path / "grid.png"
    assert (
        main(
            [
                "sample",
                "--ckpt",
                str(digits_run),
                "--out",
                str(out),
                "--classes",
                "0,3,7",
                "--n",
                "4",
                "--truncation",
                "1.5",
            ]
        )
        == 0
    )
    w, h = Image.open(out).size
    assert h < w  # 3 rows of 4
    ckpt = sorted((digits_run / "checkpoints").iterdir())[-1]
    assert main(["sample", "--ckpt", str(ckpt), "--out", str(tmp_path / "b.png")]) == 0


def test_train_on_an_image_folder(tmp_path):
    data = _image_folder(tmp_path / "pets")
    (data / "cat" / "broken.png").write_bytes(b"")
    out = tmp_path / "runs"
    assert (
        main(["train", "--data", str(data), "--steps", "2", "--batch", "4", "--out", str(out)]) == 0
    )
    run = out / "00000-digits-pets"
    assert json.loads((run / "config.json").read_text())["model"]["num_classes"] == 2
    assert "warning: skipped 1 file" in (run / "log.txt").read_text()


def test_resume_continues_a_run(digits_run):
    assert main(["train", "--resume", str(digits_run), "--steps", "3"]) == 0
    assert json.loads((digits_run / "summary.json").read_text())["steps"] == 3


def test_one_class_folder_trains_unconditionally(tmp_path):
    # Without --unconditional it is an error: see the catalogue in test_bad_input.py.
    one = _image_folder(tmp_path / "one", classes=("only",))
    argv = ["train", "--data", str(one), "--unconditional", "--steps", "1", "--batch", "4"]
    assert main([*argv, "--out", str(tmp_path / "r")]) == 0
