"""Tests for ``sagan prepare`` and the prepared dataset format, on tiny images in tmp_path."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sagan.data.prepare as prepare_module
from sagan.cli import main
from sagan.data import dataset_name, load_dataset
from sagan.data.cifar import Cifar10Dataset
from sagan.data.folder import ImageFolderDataset
from sagan.data.prepare import prepare_dataset
from sagan.data.prepared import PreparedDataset
from sagan.errors import SaganError

R = 16
COLOURS = {"ant": (250, 0, 0), "bee": (0, 250, 0), "cat": (0, 0, 250)}
OUTPUT_FILES = ("images.u8", "labels.npy", "meta.json", "skipped.txt")


def _quiet(_: str) -> None:
    pass


def _image_folder(root: Path, per_class: int = 5, noise: bool = True) -> Path:
    """Classes of images of one main colour each, of varied sizes, as PNG and JPEG."""
    rng = np.random.default_rng(0)
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(per_class):
            height, width = 20 + 3 * i, 24 + 2 * c
            pixels = np.zeros((height, width, 3), dtype=np.uint8) + np.uint8(colour)
            if noise:
                pixels[: height // 3] = rng.integers(0, 40, (height // 3, width, 3))
            path = root / name / f"{i}.{'png' if i % 2 else 'jpg'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
    return root


def _add_bad_files(root: Path) -> dict[str, str]:
    """Unusable files in three classes and a class with nothing usable; name -> reason part."""
    (root / "ant" / "empty.png").write_bytes(b"")
    (root / "bee" / "text.jpg").write_text("not a picture")
    good = (root / "cat" / "0.jpg").read_bytes()
    (root / "cat" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "dog").mkdir()
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n")
    return {
        "ant/empty.png": "not a readable image",
        "bee/text.jpg": "not a readable image",
        "cat/truncated.jpg": "OSError",
        "dog/broken.png": "not a readable image",
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _error(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def _fake_cifar(parent: Path) -> Path:
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (5, 3072), dtype=np.uint8),
            b"labels": [0, 3, 9, 3, 1],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def test_folder_items_equal_the_image_folder_dataset(tmp_path: Path) -> None:
    src, dst = _image_folder(tmp_path / "src"), tmp_path / "prepared"
    summary = prepare_dataset(src, dst, R, workers=0, log=_quiet, progress=False, chunk_size=4)
    assert summary["count"] == 15 and summary["num_classes"] == 3 and summary["skipped"] == 0
    assert sorted(p.name for p in dst.iterdir()) == sorted(OUTPUT_FILES)
    meta = json.loads((dst / "meta.json").read_text())
    assert meta["format"] == "sagan-prepared" and meta["complete"] is True
    assert meta["resolution"] == R and meta["classes"] == ["ant", "bee", "cat"]
    assert meta["source"] == str(src.resolve())
    assert (dst / "images.u8").stat().st_size == 15 * 3 * R * R

    prepared = load_dataset(str(dst), R, log=_quiet)
    folder = ImageFolderDataset(src, R, log=_quiet)
    assert isinstance(prepared, PreparedDataset) and dataset_name(str(dst)) == "prepared"
    assert prepared.classes == folder.classes and prepared.num_classes == 3
    assert len(prepared) == len(folder) == 15
    assert prepared.labels.dtype == torch.long
    assert torch.equal(prepared.labels, folder.labels)
    for i in range(len(folder)):
        image, label, skipped = prepared[i]
        expected, expected_label, _ = folder[i]
        assert image.dtype == torch.uint8 and image.shape == (3, R, R)
        assert torch.equal(image, expected) and label == expected_label and skipped == 0
        assert isinstance(label, int)
    copy = pickle.loads(pickle.dumps(prepared))  # how a spawned DataLoader worker gets it
    assert torch.equal(copy[7][0], prepared[7][0])


def test_worker_pool_gives_the_same_bytes(tmp_path: Path) -> None:
    src = _image_folder(tmp_path / "src")
    _add_bad_files(src)
    for workers in (0, 2):
        prepare_dataset(
            src, tmp_path / f"w{workers}", R, workers, log=_quiet, progress=False, chunk_size=3
        )
    assert _files(tmp_path / "w0") == _files(tmp_path / "w2")


@pytest.mark.parametrize("resolution", [32, 16])
def test_cifar_folder_converts_like_cifar10_dataset(tmp_path: Path, resolution: int) -> None:
    folder = _fake_cifar(tmp_path / "cifar")
    dst = tmp_path / "cifar-prepared"
    summary = prepare_dataset(
        tmp_path / "cifar", dst, resolution, workers=0, log=_quiet, progress=False, chunk_size=7
    )
    assert summary["count"] == 25 and summary["num_classes"] == 10
    prepared = PreparedDataset(dst, resolution, log=_quiet)
    reference = Cifar10Dataset(folder, resolution, log=_quiet)
    assert prepared.classes == reference.classes == [f"c{i}" for i in range(10)]
    assert torch.equal(prepared.labels, reference.labels)
    for i in range(len(reference)):
        image, label, skipped = prepared[i]
        assert torch.equal(image, reference[i][0]) and label == reference[i][1] and skipped == 0


def test_skipped_files_are_listed_and_labels_stay_right(tmp_path: Path) -> None:
    src = _image_folder(tmp_path / "src", noise=False)
    reasons = _add_bad_files(src)
    logs: list[str] = []
    dst = tmp_path / "prepared"
    summary = prepare_dataset(src, dst, R, workers=0, log=logs.append, progress=False, chunk_size=4)
    assert summary["count"] == 15 and summary["skipped"] == 4
    lines = (dst / "skipped.txt").read_text().splitlines()
    listed = dict(line.split("\t") for line in lines)
    assert sorted(listed) == sorted(reasons)
    for name, reason in reasons.items():
        assert reason in listed[name]
    warnings = [line for line in logs if "skipped" in line]
    assert len(warnings) == 1 and "skipped 4 files" in warnings[0]
    assert str(dst / "skipped.txt") in warnings[0]
    assert any("dropped 1 class folder" in line and "'dog'" in line for line in logs)
    ds = PreparedDataset(dst, R, log=_quiet)
    assert ds.classes == ["ant", "bee", "cat"]
    for i in range(len(ds)):
        image, label, _ = ds[i]
        colour = COLOURS[ds.classes[label]]
        assert image.float().mean(dim=(1, 2)).tolist() == pytest.approx(colour, abs=8)


def test_interrupted_conversion_resumes_byte_identical(tmp_path: Path, monkeypatch, capsys) -> None:
    src = _image_folder(tmp_path / "src")
    _add_bad_files(src)
    prepare_dataset(src, tmp_path / "whole", R, 0, log=_quiet, progress=False, chunk_size=3)

    real_write = prepare_module._write_chunk
    calls = []

    def crash_in_third_chunk(dst, offset, images, labels):
        calls.append(offset)
        if len(calls) == 3:  # half a chunk of garbage reaches the disk, then Ctrl-C
            real_write(dst, offset, np.full_like(images, 255)[:1], labels[:1] * 0 + 7)
            raise KeyboardInterrupt
        real_write(dst, offset, images, labels)

    monkeypatch.setattr(prepare_module, "_write_chunk", crash_in_third_chunk)
    dst = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(src, dst, R, 0, log=_quiet, progress=False, chunk_size=3)
    progress = json.loads((dst / "progress.json").read_text())
    assert progress["chunks_done"] == 2
    assert json.loads((dst / "meta.json").read_text())["complete"] is False
    err = _error(capsys, ["train", "--data", str(dst), "--out", str(tmp_path / "runs")])
    assert "unfinished conversion" in err and f"sagan prepare {src.resolve()} {dst}" in err

    monkeypatch.setattr(prepare_module, "_write_chunk", real_write)
    logs: list[str] = []
    prepare_dataset(src, dst, R, 0, log=logs.append, progress=False, chunk_size=3)
    assert any("resuming" in line for line in logs)
    assert _files(dst) == _files(tmp_path / "whole")


def test_interrupt_via_the_cli_says_how_to_continue(tmp_path: Path, monkeypatch, capsys) -> None:
    src = _image_folder(tmp_path / "src")

    def interrupt(*_args) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_module, "_write_chunk", interrupt)
    argv = ["prepare", str(src), str(tmp_path / "dst"), "--resolution", "16", "--workers", "0"]
    assert main(argv) == 130
    assert "run `sagan prepare" in capsys.readouterr().err


def _prepared(tmp_path: Path, name: str = "prepared") -> tuple[Path, Path]:
    src = tmp_path / "src"
    if not src.exists():
        _image_folder(src)
    dst = tmp_path / name
    prepare_dataset(src, dst, R, 0, log=_quiet, progress=False)
    return src, dst


def _truncate(dst: Path) -> None:
    with (dst / "images.u8").open("r+b") as handle:
        handle.truncate(100)


def _unfinish(dst: Path) -> None:
    meta = json.loads((dst / "meta.json").read_text())
    (dst / "meta.json").write_text(json.dumps({**meta, "complete": False}))


def _foreign(dst: Path) -> None:
    (dst / "meta.json").write_text(json.dumps({"format": "webdataset", "version": 1}))


def _newer(dst: Path) -> None:
    meta = json.loads((dst / "meta.json").read_text())
    (dst / "meta.json").write_text(json.dumps({**meta, "version": 99}))


def _no_meta(dst: Path) -> None:
    (dst / "meta.json").unlink()


def _short_labels(dst: Path) -> None:
    np.save(dst / "labels.npy", np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize(
    ("damage", "preset", "expected"),
    [
        (None, "cifar32", "holds 16x16 images but this preset needs 32x32"),
        (_unfinish, "digits", "unfinished conversion: run `sagan prepare"),
        (_truncate, "digits", "truncated or damaged"),
        (_foreign, "digits", "is not a sagan prepared dataset (format 'webdataset'"),
        (_newer, "digits", "prepared by a newer sagan (format version 99"),
        (_no_meta, "digits", "has no meta.json"),
        (_short_labels, "digits", "does not hold 15 int64 labels"),
    ],
)
def test_bad_prepared_folders_give_one_line_errors(
    tmp_path: Path, capsys, damage, preset: str, expected: str
) -> None:
    _, dst = _prepared(tmp_path)
    if damage is not None:
        damage(dst)
    argv = ["train", "--data", str(dst), "--preset", preset, "--out", str(tmp_path / "runs")]
    err = _error(capsys, argv)
    assert expected in err
    if preset == "cifar32":
        assert "--resolution 32" in err and "pick a preset of resolution 16" in err
    assert not (tmp_path / "runs").exists()


def test_refuses_a_non_empty_folder_that_is_not_prepared(tmp_path: Path, capsys) -> None:
    src = _image_folder(tmp_path / "src")
    dst = tmp_path / "mine"
    dst.mkdir()
    (dst / "notes.txt").write_text("keep me")
    (dst / "images.u8").write_bytes(b"precious")
    before = _files(dst)
    err = _error(capsys, ["prepare", str(src), str(dst), "--resolution", "16", "--workers", "0"])
    assert "is not empty and holds no prepared dataset" in err and "nothing was changed" in err
    assert _files(dst) == before


def test_refuses_a_dataset_of_another_resolution_or_source(tmp_path: Path, capsys) -> None:
    src, dst = _prepared(tmp_path)
    before = _files(dst)
    err = _error(capsys, ["prepare", str(src), str(dst), "--resolution", "32", "--workers", "0"])
    assert "already holds a dataset prepared from" in err and "at 16x16" in err
    other = _image_folder(tmp_path / "other", per_class=2)
    err = _error(capsys, ["prepare", str(other), str(dst), "--resolution", "16", "--workers", "0"])
    assert "already holds a dataset prepared from" in err
    assert _files(dst) == before


def test_same_source_again_is_already_prepared(tmp_path: Path, capsys) -> None:
    src, dst = _prepared(tmp_path)
    before = _files(dst)
    capsys.readouterr()
    assert main(["prepare", str(src), str(dst), "--resolution", "16", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "already prepared" in out and "15 images, 3 classes, 16x16, 0 skipped" in out
    assert _files(dst) == before
    (src / "ant" / "new.png").write_bytes((src / "ant" / "1.png").read_bytes())
    with pytest.raises(SaganError, match="has changed"):
        prepare_dataset(src, dst, R, 0, log=_quiet, progress=False)


def test_prepare_command_summary_and_bad_sources(tmp_path: Path, capsys) -> None:
    src = _image_folder(tmp_path / "src")
    dst = tmp_path / "out"
    assert main(["prepare", str(src), str(dst), "--resolution", "16", "--workers", "0"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out.startswith("prepared ") and "15 images, 3 classes, 16x16, 0 skipped" in out
    assert "kB on disk" in out
    err = _error(capsys, ["prepare", str(tmp_path / "nope"), str(tmp_path / "x")])
    assert "does not exist" in err
    err = _error(capsys, ["prepare", str(src), str(src / "inside"), "--workers", "0"])
    assert "inside SRC" in err
    err = _error(capsys, ["prepare", str(src), str(tmp_path / "y"), "--resolution", "2"])
    assert "--resolution must be at least 4" in err


def test_train_on_a_prepared_folder(tmp_path: Path) -> None:
    _, dst = _prepared(tmp_path, "pets-16")
    out = tmp_path / "runs"
    argv = ["train", "--data", str(dst), "--preset", "digits", "--steps", "2", "--batch", "8"]
    assert main([*argv, "--out", str(out), "--device", "cpu", "--no-tensorboard"]) == 0
    runs = [p.name for p in out.iterdir()]
    assert len(runs) == 1 and runs[0].endswith("digits-pets-16")
    config = json.loads((out / runs[0] / "config.json").read_text())
    assert config["model"]["num_classes"] == 3
