"""The command line: info, sample, train on a folder, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sagan.cli import main


def _error(capsys, argv) -> str:
    """Run the CLI, expect exit status 2 and return its one-line message."""
    capsys.readouterr()  # drop what fixtures printed
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: "), err
    assert "\n" not in err and "Traceback" not in err, err
    return err


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


BAD_TRAIN = [
    (["--data", "/no/such/folder"], "does not exist"),
    (["--steps", "0"], "--steps must be positive"),
    (["--steps", "-5"], "--steps must be positive"),
    (["--batch", "0"], "--batch must be positive"),
    (["--lr-g=-1e-4"], "--lr-g must be positive"),
    (["--steps", "ten"], "invalid int value: 'ten'"),
    (["--preset", "huge"], "invalid choice: 'huge'"),
    (["--attn-g", "8,x"], "comma-separated integers"),
    (["--lr-d", "0"], "--lr-d must be positive"),
    (["--beta2", "1.5"], "--beta2 must be in"),
    (["--n-dis", "0"], "--n-dis must be positive"),
    (["--attn-g", "7"], "choose --attn-g from 8,16"),
    (["--attn-d", "16"], "choose --attn-d from 4,8"),
]


@pytest.mark.parametrize("argv,message", BAD_TRAIN, ids=[" ".join(a) for a, _ in BAD_TRAIN])
def test_bad_training_input_is_one_line(capsys, tmp_path, argv, message):
    err = _error(capsys, ["train", "--out", str(tmp_path / "runs"), *argv])
    assert message in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_empty_and_one_class_folders(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "is empty" in _error(capsys, ["train", "--data", str(tmp_path / "empty")])
    one = _image_folder(tmp_path / "one", classes=("only",))
    assert "--unconditional" in _error(
        capsys, ["train", "--data", str(one), "--out", str(tmp_path / "r")]
    )
    # Unconditional training accepts it.
    assert (
        main(
            [
                "train",
                "--data",
                str(one),
                "--unconditional",
                "--steps",
                "1",
                "--batch",
                "4",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )


def test_bad_checkpoints(capsys, tmp_path, digits_run):
    png = tmp_path / "x.png"
    assert "does not exist" in _error(
        capsys, ["sample", "--ckpt", str(tmp_path / "none.pt"), "--out", str(png)]
    )
    foreign = tmp_path / "foreign.pt"
    foreign.write_text("not a checkpoint")
    assert "cannot be read" in _error(capsys, ["sample", "--ckpt", str(foreign), "--out", str(png)])
    import torch

    other = tmp_path / "other.pt"
    torch.save({"model": torch.zeros(3)}, other)
    assert "not a sagan checkpoint" in _error(
        capsys, ["sample", "--ckpt", str(other), "--out", str(png)]
    )
    ckpt = sorted((digits_run / "checkpoints").iterdir())[-1]
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    assert "cannot be read" in _error(
        capsys, ["sample", "--ckpt", str(truncated), "--out", str(png)]
    )
    assert "out of range" in _error(
        capsys, ["sample", "--ckpt", str(ckpt), "--out", str(png), "--classes", "12"]
    )
    assert not png.exists()


def test_bad_resume(capsys, tmp_path, digits_run):
    assert "not a run folder" in _error(capsys, ["train", "--resume", str(tmp_path)])
    assert "drop --batch" in _error(capsys, ["train", "--resume", str(digits_run), "--batch", "4"])
    cfg = json.loads((digits_run / "config.json").read_text())
    cfg["mystery"] = 1
    (digits_run / "config.json").write_text(json.dumps(cfg))
    assert "unknown training config key(s) mystery" in _error(
        capsys, ["train", "--resume", str(digits_run)]
    )
