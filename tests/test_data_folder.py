"""Tests for the class-per-subfolder image dataset, on tiny images written to tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from sagan.data.folder import ImageFolderDataset, decode_image_file
from sagan.errors import SaganError

R = 16


def _save(path: Path, img: Image.Image, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)
    return path


def _solid(size: tuple[int, int], color: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", size, color)


def _noise_jpeg(path: Path, size: int = 64) -> Path:
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return _save(path, Image.fromarray(pixels), quality=95)


def _by_name(ds: ImageFolderDataset, name: str) -> int:
    return next(i for i, (p, _) in enumerate(ds.samples) if Path(p).name == name)


def _mean_rgb(ds: ImageFolderDataset, name: str) -> list[float]:
    image, _, skipped = ds[_by_name(ds, name)]
    assert skipped == 0
    return image.float().mean(dim=(1, 2)).tolist()


def test_two_classes_give_square_uint8_images_with_sorted_labels(tmp_path: Path) -> None:
    _save(tmp_path / "zebra" / "a.jpg", _solid((40, 24), (0, 0, 255)))
    _save(tmp_path / "zebra" / "nested" / "deeper" / "b.PNG", _solid((20, 50), (0, 0, 255)))
    _save(tmp_path / "ant" / "c.png", _solid((33, 17), (255, 0, 0)))
    logs: list[str] = []
    ds = ImageFolderDataset(tmp_path, R, log=logs.append)
    assert ds.classes == ["ant", "zebra"]
    assert ds.num_classes == 2
    assert len(ds) == 3
    assert sorted(ds.labels.tolist()) == [0, 1, 1]
    for i in range(len(ds)):
        image, label, skipped = ds[i]
        assert image.shape == (3, R, R) and image.dtype == torch.uint8
        assert skipped == 0
        assert label == ds.samples[i][1] == int(ds.labels[i])
        expected = "ant" if image[0].float().mean() > 128 else "zebra"
        assert ds.classes[label] == expected
    assert logs == []


def test_centre_crop_keeps_the_middle(tmp_path: Path) -> None:
    pixels = np.zeros((20, 100, 3), dtype=np.uint8)
    pixels[:, :, 2] = 255  # blue sides
    pixels[:, 30:70] = (255, 0, 0)  # red middle, wider than the 20-pixel centre square
    _save(tmp_path / "c" / "wide.png", Image.fromarray(pixels))
    _save(tmp_path / "c" / "tall.png", Image.fromarray(pixels.transpose(1, 0, 2).copy()))
    ds = ImageFolderDataset(tmp_path, 10, log=lambda _: None)
    for i in range(len(ds)):
        image, _, _ = ds[i]
        assert image[0].min() >= 250 and image[1:].max() <= 5


def test_decode_resizes_the_shorter_side(tmp_path: Path) -> None:
    # Left half black, right half white: after the centre crop of a 64x32 image the split
    # must still sit in the middle.
    pixels = np.zeros((32, 64, 3), dtype=np.uint8)
    pixels[:, 32:] = 255
    path = _save(tmp_path / "split.png", Image.fromarray(pixels))
    image = decode_image_file(path, 8)
    assert image.shape == (3, 8, 8)
    assert image[:, :, :3].max() <= 10 and image[:, :, 5:].min() >= 245


def test_non_rgb_modes_are_converted_and_noted(tmp_path: Path) -> None:
    folder = tmp_path / "only"
    _save(folder / "rgb.png", _solid((12, 12), (10, 20, 30)))
    _save(folder / "grey.png", Image.new("L", (12, 12), 100))
    _save(folder / "clear.png", Image.new("RGBA", (12, 12), (255, 255, 255, 0)))
    _save(folder / "opaque.png", Image.new("RGBA", (12, 12), (200, 100, 50, 255)))
    _save(folder / "grey_alpha.png", Image.new("LA", (12, 12), (200, 128)))
    palette = Image.new("P", (12, 12), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    _save(folder / "palette.png", palette)
    _save(folder / "cmyk.jpg", Image.new("CMYK", (16, 16), (0, 255, 255, 0)), quality=95)
    _save(folder / "white16.png", Image.fromarray(np.full((12, 12), 65535, dtype=np.uint16)))
    _save(folder / "mid16.png", Image.fromarray(np.full((12, 12), 32768, dtype=np.uint16)))
    with Image.open(folder / "white16.png") as img:
        assert img.mode in ("I;16", "I")
    logs: list[str] = []
    ds = ImageFolderDataset(tmp_path, R, log=logs.append)
    assert len(ds) == 9
    notes = [line for line in logs if line.startswith("note:")]
    assert notes == [
        "note: 8 images are grayscale, palette, CMYK, RGBA or 16-bit; they are converted to RGB"
    ]
    assert _mean_rgb(ds, "rgb.png") == pytest.approx([10, 20, 30], abs=0.5)
    assert _mean_rgb(ds, "grey.png") == pytest.approx([100, 100, 100], abs=0.5)
    assert _mean_rgb(ds, "clear.png") == pytest.approx([0, 0, 0], abs=0.5)  # on black
    assert _mean_rgb(ds, "opaque.png") == pytest.approx([200, 100, 50], abs=0.5)
    assert _mean_rgb(ds, "grey_alpha.png") == pytest.approx([100, 100, 100], abs=1)
    assert _mean_rgb(ds, "palette.png") == pytest.approx([0, 255, 0], abs=0.5)
    red, green, blue = _mean_rgb(ds, "cmyk.jpg")
    assert red > 240 and green < 15 and blue < 15
    assert _mean_rgb(ds, "white16.png") == pytest.approx([255, 255, 255], abs=0.5)
    assert _mean_rgb(ds, "mid16.png") == pytest.approx([128, 128, 128], abs=0.5)


def test_unreadable_files_are_skipped_at_scan(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "good.png", _solid((8, 8), (1, 2, 3)))
    (tmp_path / "a" / "empty.png").write_bytes(b"")
    (tmp_path / "a" / "fake.jpg").write_text("this is not a picture")
    logs: list[str] = []
    ds = ImageFolderDataset(tmp_path, R, log=logs.append)
    assert [Path(p).name for p, _ in ds.samples] == ["good.png"]
    warnings = [line for line in logs if "not readable images" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: skipped 2 files")
    assert "empty.png" in warnings[0] or "fake.jpg" in warnings[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_permissions_are_skipped(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "good.png", _solid((8, 8), (1, 2, 3)))
    locked = _save(tmp_path / "a" / "locked.png", _solid((8, 8), (1, 2, 3)))
    locked.chmod(0)
    logs: list[str] = []
    ds = ImageFolderDataset(tmp_path, R, log=logs.append)
    assert len(ds) == 1
    assert any("permission denied" in line for line in logs)


def test_files_beside_class_folders_are_ignored(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "x.png", _solid((8, 8), (1, 2, 3)))
    _save(tmp_path / "stray.png", _solid((8, 8), (1, 2, 3)))
    logs: list[str] = []
    ds = ImageFolderDataset(tmp_path, R, log=logs.append)
    assert len(ds) == 1
    assert len(logs) == 1 and "'stray.png'" in logs[0] and "class subfolders" in logs[0]


def test_truncated_jpeg_is_replaced_at_getitem(tmp_path: Path, monkeypatch) -> None:
    # Even if something else switched Pillow to padding truncated files, they must fail.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    bad = _noise_jpeg(tmp_path / "a" / "0_truncated.jpg")
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    _save(tmp_path / "a" / "1_good.png", _solid((20, 20), (0, 255, 0)))
    ds = ImageFolderDataset(tmp_path, R, log=lambda _: None)
    assert len(ds) == 2  # the header is fine, so the scan keeps it
    image, label, skipped = ds[_by_name(ds, "0_truncated.jpg")]
    assert skipped >= 1
    assert image.shape == (3, R, R) and label == 0
    assert image[1].min() >= 250  # the good green image took its place
    with pytest.raises(OSError):
        decode_image_file(bad, R)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_large_images_pass_the_decompression_bomb_check(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64x64 is over twice this limit
    _noise_jpeg(tmp_path / "a" / "big.jpg")
    ds = ImageFolderDataset(tmp_path, R, log=lambda _: None)
    image, _, skipped = ds[0]
    assert skipped == 0 and image.shape == (3, R, R)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_other_files_and_hidden_entries_are_ignored(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "img.png", _solid((8, 8), (1, 2, 3)))
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "a" / ".hidden.png").write_bytes(b"")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.png").write_bytes(b"")
    logs: list[str] = []
    ds = ImageFolderDataset(tmp_path, R, log=logs.append)
    assert ds.classes == ["a"] and len(ds) == 1
    assert logs == ["warning: ignored 1 file that is not an image (e.g. 'a/notes.txt')"]


def test_empty_class_folder_is_dropped(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "x.png", _solid((8, 8), (1, 2, 3)))
    (tmp_path / "b").mkdir()
    (tmp_path / "c" / "broken.png").parent.mkdir()
    (tmp_path / "c" / "broken.png").write_bytes(b"")
    _save(tmp_path / "d" / "y.png", _solid((8, 8), (1, 2, 3)))
    logs: list[str] = []
    ds = ImageFolderDataset(tmp_path, R, log=logs.append)
    assert ds.classes == ["a", "d"] and ds.num_classes == 2
    assert ds.labels.tolist() == [0, 1]
    dropped = [line for line in logs if "dropped" in line]
    assert dropped == ["warning: dropped 2 class folders with no readable images (e.g. 'b')"]


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nope"


def _a_file(tmp_path: Path) -> Path:
    return _save(tmp_path / "one.png", _solid((8, 8), (1, 2, 3)))


def _empty(tmp_path: Path) -> Path:
    return tmp_path


def _no_subfolders(tmp_path: Path) -> Path:
    _save(tmp_path / "one.png", _solid((8, 8), (1, 2, 3)))
    return tmp_path


def _only_corrupt(tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "zero.png").write_bytes(b"")
    (tmp_path / "a" / "text.jpg").write_text("not an image\nat all")
    return tmp_path


def _no_image_files(tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "readme.md").write_text("nothing here")
    return tmp_path


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_missing, "does not exist"),
        (_a_file, "is a file"),
        (_empty, "is empty"),
        (_no_subfolders, "no class subfolders"),
        (_only_corrupt, "none of the 2 image files"),
        (_no_image_files, "no image files"),
    ],
)
def test_bad_folders_raise_one_line_errors(tmp_path: Path, make, fragment: str) -> None:
    root = make(tmp_path)
    with pytest.raises(SaganError) as caught:
        ImageFolderDataset(root, R, log=lambda _: None)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message
    assert ":" in message  # what is wrong, then what to do
