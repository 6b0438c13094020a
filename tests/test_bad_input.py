"""The catalogue of bad input: every case prints one actionable line, no traceback, exits
with status 2 and leaves every file that existed as it was.

One small run of the digits preset (on a 3-class image folder, so no digits classifier is
trained) is shared by the whole module; the broken files and folders are made around it.
Single bad images inside a good folder are not errors: they are skipped or converted with
a warning, and training goes on (``test_bad_images_in_a_good_folder_warn_and_train``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sagan.cli import main
from sagan.config import TrainConfig
from sagan.training.checkpoint import save_checkpoint

ROOT_USER = os.geteuid() == 0


# Images and other files.


def _png(path: Path, seed: int = 0, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _image_folder(root: Path, classes: tuple[str, ...], per_class: int = 4) -> Path:
    for c, name in enumerate(classes):
        for i in range(per_class):
            _png(root / name / f"{i}.png", seed=10 * c + i)
    return root


def _truncated_png(path: Path) -> Path:
    """A PNG whose header reads but whose pixels are cut off."""
    data = _png(path, size=64).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _huge_png_header(path: Path, side: int = 50_000) -> Path:
    """A PNG header announcing side x side pixels, over every decompression-bomb limit."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _fifo_and_dangling_link(folder: Path) -> None:
    """Two files that no one can read, root included: a named pipe and a broken link."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "pipe.png")
    os.symlink(folder / "gone.png", folder / "link.png")


# The shared run and the broken things around it.


def _checkpoint(path: Path, **state) -> Path:
    save_checkpoint(path, {"step": 2, **state})
    return path


def _resume_folder(root: Path, name: str, config: dict, ckpt: dict | bytes | None) -> Path:
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    _write(run / "config.json", json.dumps(config, indent=2))
    target = run / "checkpoints" / "ckpt-00000002.pt"
    if isinstance(ckpt, bytes):
        target.write_bytes(ckpt)
    elif ckpt is not None:
        _checkpoint(target, **ckpt)
    return run


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, str]:
    """Paths for the placeholders of the cases: a trained run and broken inputs."""
    root = tmp_path_factory.mktemp("bad_input")
    p: dict[str, Path] = {"root": root}
    p["data"] = _image_folder(root / "pets", ("cat", "dog", "owl"))
    runs = root / "runs"
    argv = ["train", "--data", str(p["data"]), "--steps", "2", "--batch", "8"]
    argv += ["--out", str(runs), "--keep-ckpts", "1", "--no-tensorboard"]
    assert main(argv) == 0
    p["run"] = next(runs.iterdir())
    p["ckpt"] = sorted((p["run"] / "checkpoints").iterdir())[-1]
    config = json.loads((p["run"] / "config.json").read_text())
    state = torch.load(p["ckpt"], weights_only=True)

    # Data folders.
    p["one"] = _image_folder(root / "one", ("only",))
    p["empty"] = root / "empty"
    p["empty"].mkdir()
    p["loose"] = root / "loose"
    _png(p["loose"] / "a.png")
    p["texts"] = root / "texts"
    _write(p["texts"] / "a" / "notes.txt", "no pictures here")
    _write(p["texts"] / "a" / "table.csv", "1,2,3")
    p["allbad"] = root / "allbad"
    _write(p["allbad"] / "a" / "zero.png", b"")
    _write(p["allbad"] / "a" / "text.jpg", "not a picture")
    _write(p["allbad"] / "b" / "noise.png", os.urandom(300))
    _huge_png_header(p["allbad"] / "b" / "huge.png")
    p["truncs"] = root / "truncs"
    _truncated_png(p["truncs"] / "a" / "0.png")
    _truncated_png(p["truncs"] / "b" / "0.png")
    p["pipes"] = root / "pipes"
    _fifo_and_dangling_link(p["pipes"] / "a")
    p["two"] = _image_folder(root / "two", ("x", "y"))
    p["notes"] = _write(root / "notes.txt", "just text")
    if not ROOT_USER:
        p["locked"] = _image_folder(root / "locked", ("a", "b"), per_class=1)
        for f in p["locked"].rglob("*.png"):
            f.chmod(0)
        p["locked_pt"] = shutil.copy(p["ckpt"], root / "locked.pt")
        Path(p["locked_pt"]).chmod(0)

    # Checkpoints that are not ours, broken, or of another model.
    p["foreign"] = _write(root / "foreign.pt", "not a checkpoint")
    p["other_pt"] = root / "other.pt"
    torch.save({"model": torch.zeros(3)}, p["other_pt"])
    data = p["ckpt"].read_bytes()
    p["truncated"] = _write(root / "truncated.pt", data[: len(data) // 2])
    p["empty_pt"] = _write(root / "empty.pt", b"")
    classes5 = {**config, "model": {**config["model"], "num_classes": 5}}
    cifar = TrainConfig.from_preset("cifar32", 3, data=config["data"], out=config["out"])
    weights = {"G": state["G"], "D": state["D"]}
    p["classes_pt"] = _checkpoint(root / "classes5.pt", config=classes5, **weights)
    p["preset_pt"] = _checkpoint(root / "cifar.pt", config=cifar.to_dict(), **weights)
    p["no_d_pt"] = _checkpoint(root / "no_d.pt", config=config, G=state["G"])

    # Run folders that cannot be resumed.
    p["r_nockpt"] = _resume_folder(root, "r_nockpt", config, None)
    p["r_truncated"] = _resume_folder(root, "r_truncated", config, data[:5000])
    p["r_foreign"] = _resume_folder(root, "r_foreign", config, b"PK\x03\x04 not a zip")
    p["r_classes"] = _resume_folder(root, "r_classes", config, {"config": classes5})
    p["r_preset"] = _resume_folder(root, "r_preset", config, {"config": cifar.to_dict()})
    p["r_unknown"] = _resume_folder(root, "r_unknown", {**config, "mystery": 1}, None)
    p["r_type"] = _resume_folder(root, "r_type", {**config, "batch": "eight"}, None)
    moved = {**config, "data": str(p["two"])}
    p["r_data"] = _resume_folder(root, "r_data", moved, {"config": moved})

    # Config files for --config.
    for name, content in {
        "cfg_typo": {"stpes": 3},
        "cfg_type": {"steps": "ten"},
        "cfg_value": {"steps": -4},
        "cfg_lr": {"lr_d": 0},
        "cfg_res": {"model": {"resolution": 48}},
        "cfg_model_key": {"model": {"attention": [8]}},
        "cfg_cifar": {"preset": "cifar32"},
        "cfg_preset": {"preset": "cifar64"},
        "cfg_list": [1, 2],
    }.items():
        p[name] = _write(root / f"{name}.json", json.dumps(content))
    p["cfg_broken"] = _write(root / "broken.json", '{"steps": 3,')
    p["earlier_out"] = _write(root / "results.txt", "someone's notes")

    # Outputs made by the commands themselves, and a folder nothing can be written to.
    p["exported"] = root / "exported"
    assert main(["export", "--ckpt", str(p["ckpt"]), "--out", str(p["exported"])]) == 0
    p["samples"] = root / "samples"
    argv = ["sample", "--ckpt", str(p["ckpt"]), "--out", str(p["samples"]), "--images", "4"]
    assert main([*argv, "--device", "cpu"]) == 0
    p["readonly"] = root / "readonly"
    p["readonly"].mkdir()
    p["readonly"].chmod(0o555)
    return {k: str(v) for k, v in p.items()}


def _snapshot(root: Path) -> dict[str, str]:
    """Every file (by content) and folder under root."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            state[rel] = "special"
        elif path.is_dir():
            state[rel] = "folder"
        elif os.access(path, os.R_OK):
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            state[rel] = f"unreadable {path.stat().st_size} {path.stat().st_mtime_ns}"
    return state


# The catalogue: (argv with {placeholders} from `world`, phrase the one line must contain).

T = ["train", "--out", "{root}/new-runs"]
S = ["sample", "--out", "{root}/grid.png"]
E = ["eval", "--samples", "8", "--metrics", "fid", "--extractor", "digits"]
A = ["attention", "--out", "{root}/attn.png"]
X = ["export", "--out", "{root}/exported-new"]
I = ["interpolate", "--out", "{root}/walk.gif"]  # noqa: E741 (the catalogue's one-letter prefixes)
XP = ["explore", "--check"]
not_root = pytest.mark.skipif(ROOT_USER, reason="root reads any file")

CASES = [
    # Training data.
    pytest.param([*T, "--data", "{root}/nope"], "does not exist", id="data-missing"),
    pytest.param([*T, "--data", "{empty}"], "is empty", id="data-empty-folder"),
    pytest.param([*T, "--data", "{one}"], "pass --unconditional", id="data-one-class"),
    pytest.param([*T, "--data", "{notes}"], "is a file, not a folder", id="data-is-a-file"),
    pytest.param([*T, "--data", "{loose}"], "no class subfolders", id="data-no-class-folders"),
    pytest.param([*T, "--data", "{texts}"], "no image files", id="data-files-not-images"),
    pytest.param([*T, "--data", "{allbad}"], "none of the 4 image files", id="data-all-corrupt"),
    pytest.param([*T, "--data", "{truncs}"], "failed to decode", id="data-all-truncated"),
    pytest.param([*T, "--data", "{pipes}"], "could be read", id="data-pipe-and-broken-link"),
    pytest.param(
        [*T, "--data", "{locked}"], "permission denied", id="data-unreadable", marks=not_root
    ),
    # Numbers.
    pytest.param([*T, "--steps", "0"], "--steps must be positive", id="steps-zero"),
    pytest.param([*T, "--steps", "-5"], "--steps must be positive", id="steps-negative"),
    pytest.param([*T, "--steps", "ten"], "invalid int value: 'ten'", id="steps-not-a-number"),
    pytest.param([*T, "--batch", "0"], "--batch must be positive", id="batch-zero"),
    pytest.param([*T, "--batch", "-8"], "--batch must be positive", id="batch-negative"),
    pytest.param([*T, "--lr-g=-1e-4"], "--lr-g must be positive", id="lr-g-negative"),
    pytest.param([*T, "--lr-d", "0"], "--lr-d must be positive", id="lr-d-zero"),
    pytest.param([*T, "--lr-g", "nan"], "--lr-g must be positive", id="lr-g-nan"),
    pytest.param([*T, "--beta2", "1.5"], "--beta2 must be in [0, 1)", id="beta2-above-one"),
    pytest.param([*T, "--n-dis", "0"], "--n-dis must be positive", id="n-dis-zero"),
    pytest.param([*T, "--ema-decay", "0"], "--ema-decay must be in (0, 1)", id="ema-decay-0"),
    pytest.param([*T, "--ema-decay", "1"], "--ema-decay must be in (0, 1)", id="ema-decay-1"),
    pytest.param(
        [*T, "--diffaugment", "color,blur"], "unknown transform 'blur'", id="diffaugment-unknown"
    ),
    pytest.param([*T, "--lecam", "-0.1"], "--lecam must be a weight >= 0", id="lecam-negative"),
    pytest.param(
        [*T, "--diffaugment", "translation", "--ada-target", "1"],
        "--ada-target must be in (0, 1)",
        id="ada-target-one",
    ),
    pytest.param(
        [*T, "--diffaugment", "translation", "--ada-target", "0"],
        "--ada-target must be in (0, 1)",
        id="ada-target-zero",
    ),
    pytest.param([*T, "--ada-target", "0.6"], "give --diffaugment POLICY", id="ada-without-policy"),
    pytest.param(
        [*T, "--lecam-decay", "1"], "--lecam-decay must be in [0, 1)", id="lecam-decay-one"
    ),
    pytest.param([*T, "--augment-p", "2"], "--augment-p must be in [0, 1]", id="augment-p-two"),
    pytest.param(
        [*T, "--data-fraction", "0"], "--data-fraction must be in (0, 1]", id="data-fraction-0"
    ),
    pytest.param([*T, "--ckpt-every", "0"], "--ckpt-every must be positive", id="ckpt-every-0"),
    pytest.param(
        [*T, "--sample-every", "-1"], "--sample-every must be positive", id="sample-every-neg"
    ),
    pytest.param([*T, "--log-every", "0"], "--log-every must be positive", id="log-every-0"),
    pytest.param([*T, "--keep-ckpts", "0"], "--keep-ckpts must be positive", id="keep-ckpts-0"),
    pytest.param([*T, "--workers", "-1"], "--workers must be >= 0", id="workers-negative"),
    pytest.param([*T, "--eval-every", "-1"], "--eval-every must be >= 0", id="eval-every-neg"),
    pytest.param([*T, "--eval-samples", "0"], "--eval-samples positive", id="eval-samples-0"),
    pytest.param([*T, "--grad-limit", "0"], "--grad-limit must be positive", id="grad-limit-0"),
    pytest.param([*T, "--gpus", "0"], "--gpus must be at least 1", id="gpus-zero"),
    pytest.param(
        [*T, "--gpus", "3", "--batch", "8"], "must split evenly", id="batch-not-divisible"
    ),
    # Evaluation during training.
    pytest.param(
        [*T, "--eval-every", "5", "--eval-metrics", "fdi"],
        "unknown metric 'fdi'",
        id="eval-metric-unknown",
    ),
    pytest.param(
        [*T, "--eval-every", "5", "--eval-metrics", "class_accuracy", "--unconditional"],
        "class_accuracy needs",
        id="eval-metric-needs-classes",
    ),
    pytest.param(
        [*T, "--eval-every", "5", "--extractor", "inception", "--inception-weights", "/no.pth"],
        "'/no.pth' does not exist",
        id="train-inception-weights-missing",
    ),
    # Architecture.
    pytest.param([*T, "--preset", "huge"], "invalid choice: 'huge'", id="preset-unknown"),
    pytest.param([*T, "--attn-g", "7"], "choose --attn-g from 8,16", id="attn-g-no-such-size"),
    pytest.param([*T, "--attn-d", "16"], "choose --attn-d from 4,8", id="attn-d-no-such-size"),
    pytest.param([*T, "--attn-g", "8,x"], "comma-separated integers", id="attn-g-not-numbers"),
    # Config files.
    pytest.param([*T, "--config", "{cfg_typo}"], "unknown key 'stpes'", id="config-unknown-key"),
    pytest.param(
        [*T, "--config", "{cfg_model_key}"],
        "unknown key 'model.attention'",
        id="config-unknown-model-key",
    ),
    pytest.param(
        [*T, "--config", "{cfg_type}"], "must be an integer, got 'ten'", id="config-wrong-type"
    ),
    pytest.param(
        [*T, "--config", "{cfg_value}"], "steps must be positive, got -4", id="config-bad-value"
    ),
    pytest.param(
        [*T, "--config", "{cfg_lr}"], "lr_d must be positive", id="config-bad-learning-rate"
    ),
    pytest.param([*T, "--config", "{cfg_res}"], "not 48x48", id="config-resolution-not-in-preset"),
    pytest.param(
        [*T, "--config", "{cfg_preset}"], "unknown preset 'cifar64'", id="config-unknown-preset"
    ),
    pytest.param([*T, "--config", "{cfg_broken}"], "is not valid JSON", id="config-not-json"),
    pytest.param([*T, "--config", "{cfg_list}"], "must be a JSON object", id="config-a-list"),
    pytest.param([*T, "--config", "{root}/none.json"], "does not exist", id="config-missing"),
    pytest.param(
        [*T, "--config", "{cfg_cifar}", "--preset", "digits"],
        "is a cifar32 config",
        id="config-other-preset",
    ),
    # Output and run folders.
    pytest.param(["train", "--out", "{notes}"], "is a file", id="out-is-a-file"),
    pytest.param(["train", "--out", "{run}"], "is a run folder", id="out-is-a-run-folder"),
    pytest.param(
        ["train", "--resume", "{root}/runs"], "the newest run in it", id="resume-runs-parent"
    ),
    pytest.param(
        ["train", "--resume", "{root}/nope"], "does not exist", id="resume-missing-folder"
    ),
    pytest.param(
        ["train", "--resume", "{run}", "--preset", "cifar32"],
        "drop --preset",
        id="resume-other-preset",
    ),
    pytest.param(
        ["train", "--resume", "{run}", "--batch", "4"], "drop --batch", id="resume-new-batch"
    ),
    pytest.param(
        ["train", "--resume", "{run}", "--config", "{cfg_value}"],
        "drop --config",
        id="resume-with-config",
    ),
    pytest.param(
        ["train", "--resume", "{r_nockpt}"], "no readable checkpoint", id="resume-no-checkpoint"
    ),
    pytest.param(
        ["train", "--resume", "{r_truncated}"],
        "no readable checkpoint",
        id="resume-truncated-checkpoint",
    ),
    pytest.param(
        ["train", "--resume", "{r_foreign}"],
        "no readable checkpoint",
        id="resume-foreign-checkpoint",
    ),
    pytest.param(
        ["train", "--resume", "{r_classes}"], "num_classes 5 vs 3", id="resume-other-class-count"
    ),
    pytest.param(
        ["train", "--resume", "{r_preset}"], "preset cifar32 vs digits", id="resume-preset-ckpt"
    ),
    pytest.param(
        ["train", "--resume", "{r_unknown}"], "unknown key 'mystery'", id="resume-unknown-key"
    ),
    pytest.param(
        ["train", "--resume", "{r_type}"], "an integer, got 'eight'", id="resume-config-type"
    ),
    pytest.param(["train", "--resume", "{r_data}"], "now has 2", id="resume-data-lost-a-class"),
    # sagan sample.
    pytest.param([*S, "--ckpt", "{root}/none.pt"], "does not exist", id="sample-missing-ckpt"),
    pytest.param([*S, "--ckpt", "{foreign}"], "not a PyTorch .pt file", id="sample-text-ckpt"),
    pytest.param([*S, "--ckpt", "{other_pt}"], "not a sagan checkpoint", id="sample-other-pt"),
    pytest.param([*S, "--ckpt", "{truncated}"], "cannot be read", id="sample-truncated-ckpt"),
    pytest.param([*S, "--ckpt", "{empty_pt}"], "is empty", id="sample-empty-ckpt"),
    pytest.param(
        [*S, "--ckpt", "{classes_pt}"], "do not fit its config", id="sample-other-class-count"
    ),
    pytest.param([*S, "--ckpt", "{preset_pt}"], "do not fit its config", id="sample-other-preset"),
    pytest.param([*S, "--ckpt", "{data}"], "no checkpoint in", id="sample-folder-without-ckpt"),
    pytest.param(
        [*S, "--ckpt", "{locked_pt}"], "Permission denied", id="sample-unreadable", marks=not_root
    ),
    pytest.param(
        [*S, "--ckpt", "{ckpt}", "--classes", "3"], "classes 0..2", id="sample-class-too-big"
    ),
    pytest.param(
        [*S, "--ckpt", "{ckpt}", "--classes", "-1"], "classes 0..2", id="sample-class-negative"
    ),
    pytest.param([*S, "--ckpt", "{ckpt}", "--n", "0"], "--n must be positive", id="sample-n-0"),
    pytest.param(
        [*S, "--ckpt", "{ckpt}", "--truncation", "0"],
        "--truncation must be positive",
        id="sample-truncation-0",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{root}"], "is a folder", id="sample-out-folder"
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{root}/grid.txt"],
        "must end in .png",
        id="sample-out-not-an-image",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{notes}/grid.png"],
        "is a file, not a folder",
        id="sample-out-under-a-file",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "/proc/grid.png"],
        "no file can be created in '/proc'",
        id="sample-out-in-proc",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "/proc/sagan/grid.png"],
        "no file can be created in '/proc'",
        id="sample-out-missing-parent-in-proc",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{readonly}/new/grid.png"],
        "it is read-only",
        id="sample-out-read-only-parent",
        marks=not_root,
    ),
    pytest.param(
        [*S, "--ckpt", "nobody/no-such-model"],
        "is not in the Hugging Face cache",
        id="sample-hub-id-not-cached-offline",
    ),
    pytest.param(
        [*S, "--ckpt", "{root}/no/such/model.pt"], "does not exist", id="sample-source-nothing"
    ),
    pytest.param(
        [*S, "--ckpt", "{exported}", "--no-ema"],
        "need a training checkpoint",
        id="sample-no-ema-of-an-export",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{root}/imgs", "--images", "0"],
        "--images must be positive",
        id="sample-images-0",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{root}/imgs.png", "--images", "4"],
        "is a folder for the PNGs",
        id="sample-images-out-is-an-image-name",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{notes}", "--images", "4"],
        "is a file",
        id="sample-images-out-is-a-file",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{data}", "--images", "4"],
        "holds other files",
        id="sample-images-into-a-foreign-folder",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{samples}", "--images", "8", "--seed", "1"],
        "another seed",
        id="sample-images-resume-with-another-seed",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "/proc/samples", "--images", "4"],
        "no file can be created in '/proc'",
        id="sample-images-out-in-proc",
    ),
    pytest.param(
        ["sample", "--ckpt", "{ckpt}", "--out", "{root}/imgs", "--images", "4", "--npz", "x.zip"],
        "must end in .npz",
        id="sample-npz-suffix",
    ),
    pytest.param(
        [
            "sample",
            "--ckpt",
            "{ckpt}",
            "--out",
            "{root}/imgs",
            "--images",
            "4",
            "--npz",
            "/proc/x.npz",
        ],
        "no file can be created in '/proc'",
        id="sample-npz-in-proc",
    ),
    pytest.param(
        [*S, "--ckpt", "{ckpt}", "--npz", "{root}/x.npz"],
        "--npz needs --images",
        id="sample-npz-without-images",
    ),
    # sagan interpolate.
    pytest.param([*I, "--ckpt", "{root}/none.pt"], "does not exist", id="interpolate-missing-ckpt"),
    pytest.param([*I, "--ckpt", "{foreign}"], "not a sagan checkpoint", id="interpolate-foreign"),
    pytest.param([*I, "--ckpt", "{ckpt}", "--steps", "1"], "at least 2", id="interpolate-steps-1"),
    pytest.param(
        [*I, "--ckpt", "{ckpt}", "--classes", "0,1,2"],
        "one or two classes",
        id="interpolate-3-classes",
    ),
    pytest.param(
        [*I, "--ckpt", "{ckpt}", "--classes", "0,5"], "classes 0..2", id="interpolate-class"
    ),
    pytest.param(
        ["interpolate", "--ckpt", "{ckpt}", "--out", "{root}/walk.mp4"],
        "must end in .gif, .png",
        id="interpolate-out-suffix",
    ),
    pytest.param(
        ["interpolate", "--ckpt", "{ckpt}", "--out", "{root}"],
        "is a folder",
        id="interpolate-out-folder",
    ),
    pytest.param(
        ["interpolate", "--ckpt", "{ckpt}", "--out", "/proc/walk.gif"],
        "no file can be created in '/proc'",
        id="interpolate-out-in-proc",
    ),
    pytest.param(
        ["interpolate", "--ckpt", "{ckpt}", "--out", "{notes}/walk.gif"],
        "is a file, not a folder",
        id="interpolate-out-under-a-file",
    ),
    pytest.param(
        ["interpolate", "--ckpt", "{ckpt}", "--out", "{readonly}/walk.gif"],
        "it is read-only",
        id="interpolate-out-read-only",
        marks=not_root,
    ),
    # sagan eval.
    pytest.param([*E, "--ckpt", "{root}/none.pt"], "does not exist", id="eval-missing-ckpt"),
    pytest.param([*E, "--ckpt", "{truncated}"], "cannot be read", id="eval-truncated-ckpt"),
    pytest.param([*E, "--ckpt", "{other_pt}"], "not a sagan checkpoint", id="eval-foreign-ckpt"),
    pytest.param(
        [*E, "--ckpt", "{classes_pt}"], "do not fit its config", id="eval-other-class-count"
    ),
    pytest.param([*E, "--ckpt", "{ckpt}", "--samples", "0"], "--samples must be", id="eval-n-0"),
    pytest.param([*E, "--ckpt", "{ckpt}", "--batch", "-1"], "--batch must be", id="eval-batch"),
    pytest.param(
        [*E, "--ckpt", "{ckpt}", "--metrics", "fid,bogus"], "unknown metric", id="eval-metric"
    ),
    pytest.param(
        [*E, "--ckpt", "{ckpt}", "--metrics", "class_accuracy"],
        "class_accuracy needs",
        id="eval-class-accuracy-not-digits",
    ),
    pytest.param(
        [*E, "--ckpt", "{ckpt}", "--resolution", "48"],
        "makes 16x16 images",
        id="eval-resolution-of-another-model",
    ),
    pytest.param(
        [*E, "--fake", "{data}", "--real", "{data}", "--resolution", "0"],
        "--resolution must be positive",
        id="eval-resolution-zero",
    ),
    pytest.param(
        [*E, "--ckpt", "{ckpt}", "--out", "{run}/config.json"],
        "not an earlier evaluation result",
        id="eval-out-would-overwrite",
    ),
    pytest.param([*E, "--ckpt", "{ckpt}", "--out", "{run}"], "is a folder", id="eval-out-folder"),
    pytest.param(
        [*E, "--ckpt", "{ckpt}", "--out", "/proc/results.json"],
        "no file can be created in '/proc'",
        id="eval-out-in-proc",
    ),
    pytest.param(
        [*E, "--ckpt", "{ckpt}", "--out", "{notes}/results.json"],
        "is a file, not a folder",
        id="eval-out-under-a-file",
    ),
    pytest.param(
        [*E, "--ckpt", "{ckpt}", "--out", "{readonly}/results.json"],
        "it is read-only",
        id="eval-out-read-only",
        marks=not_root,
    ),
    pytest.param(
        [*E, "--ckpt", "nobody/nothing"], "not in the Hugging Face cache", id="eval-hub-id"
    ),
    pytest.param(
        [*E, "--fake", "{root}/nope", "--real", "{data}"], "is not a folder", id="eval-fake-missing"
    ),
    pytest.param([*E, "--fake", "{data}"], "--fake needs --real", id="eval-fake-without-real"),
    pytest.param(
        ["eval", "--ckpt", "{ckpt}", "--samples", "8", "--inception-weights", "/no.pth"],
        "'/no.pth' does not exist",
        id="eval-inception-weights-missing",
    ),
    # sagan attention.
    pytest.param([*A, "--ckpt", "{foreign}"], "not a sagan checkpoint", id="attention-foreign"),
    pytest.param([*A, "--ckpt", "{truncated}"], "cannot be read", id="attention-truncated"),
    pytest.param(
        [*A, "--ckpt", "{preset_pt}"], "do not fit its config", id="attention-other-preset"
    ),
    pytest.param(
        [*A, "--ckpt", "{ckpt}", "--layer", "feat32"],
        "choose from feat8",
        id="attention-size-not-in-network",
    ),
    pytest.param(
        [*A, "--ckpt", "{ckpt}", "--network", "d", "--layer", "4"],
        "no attention layer 'feat4' in D",
        id="attention-d-size-not-in-network",
    ),
    pytest.param([*A, "--ckpt", "{ckpt}", "--class", "7"], "classes 0..2", id="attention-class"),
    pytest.param(
        [*A, "--ckpt", "{ckpt}", "--n-queries", "0"], "--n-queries must", id="attention-queries-0"
    ),
    pytest.param(
        [*A, "--ckpt", "{ckpt}", "--queries", "99,99"], "outside the 16x16", id="attention-point"
    ),
    pytest.param(
        [*A, "--ckpt", "{ckpt}", "--queries", "a;b"], "--queries must be", id="attention-points"
    ),
    pytest.param(
        [*A, "--ckpt", "{ckpt}", "--network", "d", "--real", "digits"],
        "has 10 classes but the model has 3",
        id="attention-real-data-other-classes",
    ),
    pytest.param(
        [*A, "--ckpt", "{no_d_pt}", "--network", "d"], "no 'D' entry", id="attention-no-d"
    ),
    pytest.param(
        ["attention", "--ckpt", "{ckpt}", "--out", "{root}/a.txt"],
        "must end in .png",
        id="attention-out-not-a-figure",
    ),
    pytest.param(
        ["attention", "--ckpt", "{ckpt}", "--out", "{root}"],
        "is a folder",
        id="attention-out-folder",
    ),
    pytest.param(
        ["attention", "--ckpt", "{ckpt}", "--out", "/proc/attn.png"],
        "no file can be created in '/proc'",
        id="attention-out-in-proc",
    ),
    pytest.param(
        ["attention", "--ckpt", "{ckpt}", "--out", "{notes}/attn.png"],
        "is a file, not a folder",
        id="attention-out-under-a-file",
    ),
    pytest.param(
        ["attention", "--ckpt", "{ckpt}", "--out", "{readonly}/attn.png"],
        "it is read-only",
        id="attention-out-read-only",
        marks=not_root,
    ),
    pytest.param(
        [*A, "--ckpt", "{exported}", "--network", "d"],
        "holds the generator only",
        id="attention-d-of-an-export",
    ),
    # sagan export.
    pytest.param([*X, "--ckpt", "{root}/none.pt"], "does not exist", id="export-missing-ckpt"),
    pytest.param([*X, "--ckpt", "{truncated}"], "cannot be read", id="export-truncated-ckpt"),
    pytest.param([*X, "--ckpt", "{foreign}"], "not a sagan checkpoint", id="export-foreign-ckpt"),
    pytest.param(
        [*X, "--ckpt", "{classes_pt}"], "do not fit its config", id="export-other-class-count"
    ),
    pytest.param(
        ["export", "--ckpt", "{ckpt}", "--out", "{notes}"], "is a file", id="export-out-file"
    ),
    pytest.param(
        ["export", "--ckpt", "{ckpt}", "--out", "{run}"],
        "holds a run folder",
        id="export-out-is-a-run-folder",
    ),
    pytest.param(
        ["export", "--ckpt", "{ckpt}", "--out", "{data}"],
        "holds other files",
        id="export-out-holds-other-files",
    ),
    pytest.param(
        ["export", "--ckpt", "{ckpt}", "--out", "/proc/exported"],
        "no file can be created in '/proc'",
        id="export-out-in-proc",
    ),
    pytest.param(
        ["export", "--ckpt", "{ckpt}", "--out", "{readonly}/exported"],
        "it is read-only",
        id="export-out-read-only",
        marks=not_root,
    ),
    pytest.param(
        [*X, "--ckpt", "{ckpt}", "--push-to-hub", "org/digits"],
        "needs a Hugging Face token",
        id="export-push-without-token",
    ),
    pytest.param(
        [*X, "--ckpt", "{ckpt}", "--push-to-hub", "digits"],
        "like org/name",
        id="export-push-not-a-repo-id",
    ),
    pytest.param(
        [*X, "--ckpt", "{ckpt}", "--push-to-hub", "org/bad name"],
        "not a valid repository id",
        id="export-push-invalid-repo-id",
    ),
    pytest.param(
        [*X, "--ckpt", "{ckpt}", "--private"],
        "--private applies to --push-to-hub",
        id="export-private",
    ),
    # sagan train, its output.
    pytest.param(
        ["train", "--out", "/proc/runs"],
        "no file can be created in '/proc'",
        id="train-out-in-proc",
    ),
    pytest.param(
        ["train", "--out", "{readonly}/runs"],
        "it is read-only",
        id="train-out-read-only",
        marks=not_root,
    ),
    # sagan explore (with --check, so that a case that got past its checks does not serve).
    pytest.param([*XP, "{root}/nope"], "does not exist", id="explore-missing-source"),
    pytest.param([*XP, "{foreign}"], "not a sagan checkpoint", id="explore-foreign-file"),
    pytest.param([*XP, "{preset_pt}"], "do not fit its config", id="explore-other-preset"),
    pytest.param([*XP, "{run}", "--port", "0"], "--port must be between", id="explore-port-0"),
    pytest.param(
        [*XP, "{run}", "--host", "192.0.2.1"], "check --host and --port", id="explore-host-not-ours"
    ),
    # sagan info.
    pytest.param(["info", "--num-classes", "-1"], "num_classes must be >= 0", id="info-classes"),
    pytest.param(["info", "--attn-g", "5"], "choose --attn-g from 8,16", id="info-attn-size"),
]


@pytest.fixture
def no_training(monkeypatch):
    """A case that got past its checks must not train for minutes or replace the process."""
    import sagan.commands.train as train_command
    import sagan.training.loop as loop

    def refuse(*args, **kwargs):
        raise AssertionError("the bad input was not caught before training")

    monkeypatch.setattr(loop, "train", refuse)
    monkeypatch.setattr(train_command, "launch_torchrun", refuse)


def test_the_catalogue_has_enough_distinct_cases():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 25


@pytest.mark.parametrize(("argv", "phrase"), CASES)
def test_bad_input_is_one_line_and_changes_nothing(world, no_training, capsys, argv, phrase):
    argv = [a.format(**world) for a in argv]
    before = _snapshot(Path(world["root"]))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: "), err
    assert "\n" not in err and "Traceback" not in err, err
    assert phrase in err, err
    assert _snapshot(Path(world["root"])) == before


def test_explore_on_a_port_in_use_names_the_port_option(world, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["explore", world["run"], "--check", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: port {port} on 127.0.0.1 is in use: pass another --port"


def test_explore_without_gradio_names_the_extra(world, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # makes `import gradio` fail
    assert main(["explore", world["run"], "--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith("pip install 'sagan[app]'"), err


def test_debug_shows_the_traceback(tmp_path):
    argv = [sys.executable, "-m", "sagan", "--debug", "train", "--steps", "0"]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0 and out.returncode != 2
    assert "Traceback" in out.stderr and "--steps must be positive" in out.stderr


def test_bad_images_in_a_good_folder_warn_and_train(tmp_path, capsys):
    data = _image_folder(tmp_path / "data", ("a", "b"), per_class=3)
    _write(data / "a" / "zero.png", b"")
    _write(data / "a" / "corrupt.jpg", os.urandom(500))
    _huge_png_header(data / "a" / "huge.png")
    _fifo_and_dangling_link(data / "a")
    _write(data / "a" / "readme.txt", "not an image")
    _truncated_png(data / "b" / "truncated.png")
    Image.fromarray(np.full((20, 20), 40000, dtype=np.uint16)).save(data / "b" / "grey16.png")
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(data / "b" / "cmyk.jpg")
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.save(data / "b" / "palette.png")
    out = tmp_path / "runs"
    argv = ["train", "--data", str(data), "--steps", "1", "--batch", "16", "--out", str(out)]
    assert main([*argv, "--no-tensorboard"]) == 0
    shown = capsys.readouterr().out
    for line in (
        "warning: ignored 1 file that is not an image (e.g. 'a/readme.txt')",
        "warning: skipped 5 files that are not readable images",
        "note: 3 images are grayscale, palette, CMYK, RGBA or 16-bit; they are converted to RGB",
        "unreadable images were skipped during training",
    ):
        assert line in shown
    run = next(out.iterdir())
    assert "warning: skipped 5 files" in (run / "log.txt").read_text()
    assert json.loads((run / "summary.json").read_text())["skipped_images"] >= 1


def test_a_config_file_starts_a_run_that_flags_override(world, tmp_path):
    out = tmp_path / "again"
    argv = ["train", "--config", world["run"], "--steps", "1", "--batch", "4"]
    assert main([*argv, "--out", str(out), "--no-tensorboard"]) == 0
    old = json.loads((Path(world["run"]) / "config.json").read_text())
    new = json.loads((next(out.iterdir()) / "config.json").read_text())
    changed = {k for k in old if old[k] != new[k]}
    assert changed == {"steps", "batch", "out"}
    assert new["steps"] == 1 and new["model"] == old["model"]
    partial = _write(tmp_path / "partial.json", json.dumps({"data": world["two"], "steps": 1}))
    argv = ["train", "--config", str(partial), "--out", str(out), "--batch", "4"]
    assert main([*argv, "--no-tensorboard"]) == 0
    runs = sorted(out.iterdir())
    assert json.loads((runs[-1] / "config.json").read_text())["model"]["num_classes"] == 2
