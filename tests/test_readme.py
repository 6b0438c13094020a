"""Every command shown in the README runs, with tiny settings, so the docs cannot rot.

Each ``sagan ...`` line of the README's bash blocks is run through the CLI after its
placeholder paths are replaced by small fixtures and its sizes are shrunk.
"""

from __future__ import annotations

import pickle
import re
import shlex
import socket
from pathlib import Path

import numpy as np
import pytest
from hub_cache import publish_to_cache
from inception_standin import make_standin_inception_weights
from PIL import Image

from sagan.cli import main
from sagan.data.prepare import prepare_dataset

README = Path(__file__).resolve().parent.parent / "README.md"
HUB_REPO = "your-org/sagan-digits"  # the README's Hub id, served from a local cache
TINY_IMAGES = ["--images", "20"]

# Options appended (when absent) so each command finishes in seconds on a CPU.
TINY = {
    "train": [
        "--steps",
        "2",
        "--batch",
        "4",
        "--device",
        "cpu",
        "--sample-every",
        "1",
        "--eval-samples",
        "20",
    ],
    "eval": ["--samples", "40", "--kid-subset-size", "10", "--batch", "20", "--device", "cpu"],
    "sample": ["--n", "2", "--device", "cpu"],
    "interpolate": ["--steps", "3", "--device", "cpu"],
    "experiment": ["--steps", "2", "--batch", "4", "--eval-samples", "20"],
    "per-class": ["--samples-per-class", "5"],
    "prepare": ["--workers", "0"],
}


def free_port() -> int:
    """A port no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_commands() -> list[str]:
    """The sagan command lines in the README's bash blocks (comments stripped)."""
    text = README.read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(("sagan ", "python -m sagan ")):
                commands.append(line)
    return commands


def readme_torchrun_commands() -> list[str]:
    """The torchrun command lines in the README's bash blocks (comments stripped)."""
    text = README.read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("torchrun "):
                found.append(line)
    return found


def test_readme_starts_with_the_two_setup_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    assert first_block.splitlines()[0].startswith("make demo")
    assert first_block.splitlines()[1].startswith("make test")
    assert len(readme_commands()) >= 8


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    rng = np.random.default_rng(0)
    folder = root / "my_images"
    for c in ("cats", "dogs"):
        (folder / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(
                folder / c / f"{i}.jpg"
            )
    cifar = root / "cifar-10-batches-py"
    cifar.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        (cifar / name).write_bytes(pickle.dumps(batch))
    meta = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    (cifar / "batches.meta").write_bytes(pickle.dumps(meta))
    runs = root / "runs"
    for seed in ("0", "1"):
        assert (
            main(["train", "--steps", "2", "--batch", "4", "--out", str(runs), "--seed", seed]) == 0
        )
    fakes = root / "fakes"
    fakes.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(fakes / f"{i}.png")
    weights = make_standin_inception_weights(root / "weights-inception-2015-12-05-6726825d.pth")
    # Prepared here as well, so that the training line works whichever README line runs first.
    prepared = root / "my_images-64"
    prepare_dataset(folder, prepared, 64, workers=0, log=lambda _: None, progress=False)
    imagenet = root / "imagenet-128"
    prepare_dataset(folder, imagenet, 128, workers=0, log=lambda _: None, progress=False)
    # An export, the same export published to a local stand-in of the Hub's cache as
    # HUB_REPO, and a sample folder of it (made here so that any line can run first).
    exported, published = root / "exported", root / "hub-export"
    for target in (exported, published):
        assert (
            main(["export", "--ckpt", str(runs / "00000-digits-digits"), "--out", str(target)]) == 0
        )
    commit = publish_to_cache(published, root / "hf-cache", HUB_REPO)
    snapshot = root / "hf-cache" / f"models--{HUB_REPO.replace('/', '--')}" / "snapshots" / commit
    samples = root / "digits-samples"
    argv = ["sample", "--ckpt", str(snapshot), "--out", str(samples), *TINY_IMAGES]
    assert main([*argv, "--device", "cpu"]) == 0
    return {
        "digits-samples": str(samples),
        "exported": str(exported),
        "data/my_images-64": str(prepared),
        "/data/imagenet-128": str(imagenet),
        "data/my_images": str(folder),
        "data/cifar-10-batches-py": str(cifar),
        "runs/00000-digits-digits": str(runs / "00000-digits-digits"),
        "runs/00001-digits-digits": str(runs / "00001-digits-digits"),
        "data/fakes": str(fakes),
        "/data/weights-inception-2015-12-05-6726825d.pth": str(weights),
        "/data/imagenet/train": str(folder),
        "OUT": str(root / "out"),
    }


def adapt(command: str, fx: dict[str, str]) -> list[str]:
    """Substitute fixtures for placeholders and shrink the work."""
    for placeholder, real in fx.items():
        command = command.replace(placeholder, real)
    argv = shlex.split(command)
    argv = argv[3:] if argv[:3] == ["python", "-m", "sagan"] else argv[1:]
    sub = next((a for a in argv if not a.startswith("-")), "train")
    sub = "per-class" if "per-class" in argv else sub
    tiny = (
        {"--steps": "3"}
        if "--resume" in argv
        else dict(zip(TINY.get(sub, [])[::2], TINY.get(sub, [])[1::2]))
    )
    if sub == "sample" and "--images" in argv:  # a folder of single images, not a grid
        tiny = {"--device": "cpu", **dict(zip(TINY_IMAGES[::2], TINY_IMAGES[1::2]))}
    for flag, value in tiny.items():
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    if sub == "train" and "--out" not in argv and "--resume" not in argv:
        argv += ["--out", fx["OUT"]]
    if sub == "explore":
        # `sagan explore` serves until Ctrl-C. Here it runs with --check, which does all but
        # serve (load, build and draw the page, check the port) and exits, on a free port;
        # tests/test_explore_browser.py serves the page and drives it in a browser.
        argv = [a for a in argv if a != "--check"] + ["--check", "--port", str(free_port())]
    return [
        a if not a.endswith((".png", ".json")) or "/" in a else str(Path(fx["OUT"]) / a)
        for a in argv
    ]


@pytest.fixture
def readme_hub(fixtures, monkeypatch):
    """huggingface_hub offline on the fixtures' cache, which holds HUB_REPO; its uploads
    are recorded instead of sent (with a token in HF_TOKEN, as a logged-in user has)."""
    import huggingface_hub.constants as constants
    from huggingface_hub import HfApi

    cache = Path(fixtures["runs/00000-digits-digits"]).parent.parent / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", "hf_readme_test")
    uploads: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: repo_id)

    def upload_folder(self, *, repo_id, folder_path, **kw):
        uploads.append((repo_id, sorted(kw.get("allow_patterns") or [])))
        return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return uploads


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(command, fixtures, readme_hub, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    Path(fixtures["OUT"]).mkdir(exist_ok=True)
    assert main(adapt(command, fixtures)) == 0, command
    if "--push-to-hub" in command:
        assert readme_hub and readme_hub[0][0] == HUB_REPO
        assert {"config.json", "model.safetensors", "README.md"} <= set(readme_hub[0][1])


@pytest.mark.parametrize("command", readme_torchrun_commands())
def test_readme_torchrun_command_is_valid(command, fixtures, monkeypatch, tmp_path):
    """torchrun lines need GPUs to run: check that torchrun and sagan both accept them,
    that the config resolves on the placeholder data, and that the batch splits evenly."""
    from torch.distributed.run import get_args_parser

    from sagan.cli import build_parser
    from sagan.commands.train import new_config
    from sagan.training.distributed import World

    monkeypatch.chdir(tmp_path)
    for placeholder, real in fixtures.items():
        command = command.replace(placeholder, real)
    launch = get_args_parser().parse_args(shlex.split(command)[1:])
    assert launch.module and launch.training_script == "sagan"
    args = build_parser().parse_args(launch.training_script_args)
    cfg, _ = new_config(args)
    World(size=int(launch.nproc_per_node) * int(str(launch.nnodes).split(":")[-1])).local_batch(
        cfg.batch
    )
