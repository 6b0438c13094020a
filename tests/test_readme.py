"""Every command shown in README.md and docs/*.md runs or is checked, so the docs cannot rot.

Each distinct line of the pages' bash blocks is tested once, at the first page that shows
it (see ``doc_pages.all_shell_lines``), according to what it starts:

- ``sagan ...`` and ``python -m sagan ...`` run through the CLI after their placeholder
  paths are replaced by small fixtures and their sizes are shrunk (``sagan explore``
  with ``--check``, since it would serve until Ctrl-C);
- lines that need GPUs (``torchrun``, ``sagan train --gpus N``) are parsed by torchrun
  and sagan, their config is resolved on the fixtures and their batch split is checked;
- ``python benchmarks/X.py ...`` is parsed by the script's own argument parser, not run
  (``tests/test_benchmark_scripts.py`` runs scripts at tiny sizes), and
  ``bash benchmarks/X.sh`` is syntax-checked with ``bash -n``, not run (it needs a GPU
  or minutes of CPU);
- lines for other tools are checked against what they refer to: ``make`` targets in the
  Makefile, ``pip install`` extras in pyproject.toml, the ``curl`` download of the
  Inception weights against sagan's and torch-fidelity's URL, ``fidelity`` through
  torch-fidelity's own command line (its computation replaced by a recorder),
  ``python -c`` by compiling it, ``python -m pytest`` by its files existing, and
  ``python -m sagan.cli_docs > docs/cli.md`` by the page being its output.

The Python blocks of README.md and docs/*.md run too, with the same fixtures.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from doc_pages import PAGES, ROOT, all_shell_lines, blocks, name, split_env
from hub_cache import publish_to_cache
from inception_standin import make_standin_inception_weights
from PIL import Image

from sagan.cli import main
from sagan.data.prepare import prepare_dataset

HUB_REPO = "org/name"  # the pages' Hub id, served from a local cache
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
    "limited-data": ["--fractions", "1", "--remedies", "official,ema-lecam"],
    "per-class": ["--samples-per-class", "5"],
    "prepare": ["--workers", "0"],
}

LINES = all_shell_lines()


def kind(line: str) -> str:
    """What a command line is, which decides how it is tested (see the module's docstring)."""
    argv = split_env(shlex.split(line))[1]
    if argv[0] == "sagan" or argv[:3] == ["python", "-m", "sagan"]:
        return "gpu" if "--gpus" in argv else "sagan"
    if argv[0] == "torchrun":
        return "gpu"
    if argv[0] == "python" and argv[1].startswith("benchmarks/"):
        return "benchmark"
    if argv[0] == "bash" and argv[1].startswith("benchmarks/"):
        return "script"
    if argv[:3] == ["python", "-m", "sagan.cli_docs"]:
        return "cli_docs"
    if argv[:3] == ["python", "-m", "pytest"]:
        return "pytest"
    if argv[:2] == ["python", "-c"]:
        return "python -c"
    if argv[:2] == ["pip", "install"]:
        return "pip"
    return {"make": "make", "source": "source", "curl": "curl", "fidelity": "fidelity"}.get(
        argv[0], "unknown"
    )


def lines_of(*kinds: str) -> list[pytest.param]:
    return [pytest.param(line, id=f"{page}: {line}") for page, line in LINES if kind(line) in kinds]


def free_port() -> int:
    """A port no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_command_line_has_a_check():
    unknown = [f"{page}: {line}" for page, line in LINES if kind(line) == "unknown"]
    assert not unknown, f"no test knows how to run or check these lines: {unknown}"
    assert len(lines_of("sagan")) >= 30


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
    for batch_name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        (cifar / batch_name).write_bytes(pickle.dumps(batch))
    meta = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    (cifar / "batches.meta").write_bytes(pickle.dumps(meta))
    runs = root / "runs"
    for seed in ("0", "1"):
        assert (
            main(["train", "--steps", "2", "--batch", "4", "--out", str(runs), "--seed", seed]) == 0
        )
    own = root / "runs-own"  # the pages' run on data/my_images, as the Quick start makes it
    argv = ["train", "--preset", "cifar32", "--data", str(folder), "--out", str(own)]
    assert main([*argv, "--steps", "2", "--batch", "4", "--device", "cpu"]) == 0
    fakes = root / "fakes"
    fakes.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(fakes / f"{i}.png")
    weights = make_standin_inception_weights(root / "weights-inception-2015-12-05-6726825d.pth")
    # Prepared here as well, so that the training line works whichever line runs first.
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
    # Placeholders in the order they are replaced: a longer one before any it contains.
    return {
        "digits-samples": str(samples),
        "exported": str(exported),
        "data/my_images-64": str(prepared),
        "/data/imagenet-128": str(imagenet),
        "data/my_images": str(folder),
        "data/cifar-10-batches-py": str(cifar),
        "runs/00000-digits-digits": str(runs / "00000-digits-digits"),
        "runs/00001-digits-digits": str(runs / "00001-digits-digits"),
        "runs/00001-cifar32-my_images": str(own / "00000-cifar32-my_images"),
        "data/fakes": str(fakes),
        "/data/weights-inception-2015-12-05-6726825d.pth": str(weights),
        "/data/imagenet/train": str(folder),
        "OUT": str(root / "out"),
    }


def substitute(command: str, fx: dict[str, str]) -> str:
    """The command with each placeholder replaced by its fixture."""
    for placeholder, real in fx.items():
        command = command.replace(placeholder, real)
    return command


def adapt(command: str, fx: dict[str, str]) -> list[str]:
    """Substitute fixtures for placeholders and shrink the work."""
    argv = shlex.split(substitute(command, fx))
    argv = argv[3:] if argv[:3] == ["python", "-m", "sagan"] else argv[1:]
    sub = next((a for a in argv if not a.startswith("-")), "train")
    experiment = argv[argv.index("experiment") + 1] if "experiment" in argv else None
    tiny = [] if "--resume" in argv else TINY.get(sub, []) + TINY.get(experiment, [])
    tiny = {**dict(zip(tiny[::2], tiny[1::2])), **({"--steps": "3"} if "--resume" in argv else {})}
    if experiment == "per-class":
        tiny = dict(zip(TINY["per-class"][::2], TINY["per-class"][1::2]))
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
        a if not a.endswith((".png", ".json", ".gif")) or "/" in a else str(Path(fx["OUT"]) / a)
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


@pytest.fixture
def small_standing_stats(monkeypatch):
    """The EMA generator's batch-norm statistics from 2 batches of 8 samples instead of 16
    of 64: the same code, a thousandth of the work (it dominates tiny cifar32 runs)."""
    import sagan.training.ema as ema

    monkeypatch.setattr(ema, "STANDING_BATCHES", 2)
    monkeypatch.setattr(ema, "STANDING_BATCH_SIZE", 8)


@pytest.mark.parametrize("command", lines_of("sagan"))
def test_command_runs(command, fixtures, readme_hub, small_standing_stats, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    Path(fixtures["OUT"]).mkdir(exist_ok=True)
    env, argv = split_env(shlex.split(command))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(adapt(shlex.join(argv), fixtures)) == 0, command
    if "--push-to-hub" in command:
        assert readme_hub and readme_hub[0][0] == HUB_REPO
        assert {"config.json", "model.safetensors", "README.md"} <= set(readme_hub[0][1])


@pytest.mark.parametrize("command", lines_of("gpu"))
def test_gpu_command_is_valid(command, fixtures, monkeypatch, tmp_path):
    """torchrun lines and ``--gpus N`` need GPUs to run: check that torchrun and sagan both
    accept them, that the config resolves on the placeholder data, and that the batch
    splits evenly over the processes."""
    from torch.distributed.run import get_args_parser

    from sagan.cli import build_parser
    from sagan.commands.train import new_config
    from sagan.training.distributed import World

    monkeypatch.chdir(tmp_path)
    argv = shlex.split(substitute(command, fixtures))
    if argv[0] == "torchrun":
        launch = get_args_parser().parse_args(argv[1:])
        assert launch.module and launch.training_script == "sagan"
        nodes = int(str(launch.nnodes).split(":")[-1])
        processes, argv = int(launch.nproc_per_node) * nodes, launch.training_script_args
    else:
        argv = argv[3:] if argv[0] == "python" else argv[1:]
        processes = int(argv[argv.index("--gpus") + 1])
    args = build_parser().parse_args(argv)
    assert args.command == "train"
    cfg, _ = new_config(args)
    World(size=processes).local_batch(cfg.batch)


def _load_script(path: Path, monkeypatch: pytest.MonkeyPatch):
    """Import a script by its path (registered, as dataclasses need, until the test ends)."""
    spec = importlib.util.spec_from_file_location(f"docs_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("command", lines_of("benchmark"))
def test_benchmark_command_parses(command, fixtures, monkeypatch):
    """Parsed by the script's own parse_args (not run); placeholder inputs exist."""
    argv = shlex.split(command)
    script = ROOT / argv[1]
    assert script.is_file(), script
    monkeypatch.syspath_prepend(str(script.parent))
    module = _load_script(script, monkeypatch)
    real = shlex.split(substitute(command, fixtures))[1:]
    monkeypatch.setattr(sys, "argv", real)
    module.parse_args()
    for placeholder, value in zip(argv[2:], real[1:]):
        if placeholder != value:
            assert Path(value).exists(), value


@pytest.mark.parametrize("command", lines_of("script"))
def test_shell_script_is_valid(command):
    """Syntax-checked with bash -n, not run; its environment switches are ones it reads."""
    env, argv = split_env(shlex.split(command))
    script = ROOT / argv[1]
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    for key in env:
        assert key in script.read_text(), f"{script.name} does not read {key}"


@pytest.mark.parametrize("command", lines_of("make", "source", "pip", "pytest", "cli_docs"))
def test_setup_command_refers_to_what_exists(command):
    argv = shlex.split(command)
    makefile = (ROOT / "Makefile").read_text()
    if argv[0] == "make":
        assert re.search(rf"^{argv[1]}:", makefile, flags=re.M), command
    elif argv[0] == "source":
        venv = re.search(r"^VENV := (\S+)$", makefile, flags=re.M).group(1)
        assert argv[1] == f"{venv}/bin/activate", command
    elif argv[0] == "pip":
        target = argv[-1]
        extra = re.fullmatch(r"(?:\.|sagan)\[(\w+)\]", target).group(1)
        optional = (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")
        assert re.search(rf"^{extra} = \[", optional[1], flags=re.M), command
    elif argv[:3] == ["python", "-m", "pytest"]:
        for path in argv[3:]:
            assert path.startswith("-") or (ROOT / path).is_file(), path
    else:
        from sagan.cli_docs import cli_markdown

        assert argv[3:] == [">", "docs/cli.md"]
        assert (ROOT / "docs" / "cli.md").read_text() == cli_markdown()


@pytest.mark.parametrize("command", lines_of("curl"))
def test_download_is_the_inception_weights(command):
    """The one download the pages show: torch-fidelity's Inception weights, saved under
    the file name sagan looks for."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    from sagan.metrics.features import INCEPTION_FILE, INCEPTION_URL

    argv = shlex.split(command)
    assert argv[-1] == INCEPTION_URL == URL_INCEPTION_V3
    assert Path(argv[argv.index("-o") + 1]).name == INCEPTION_FILE


@pytest.mark.parametrize("command", lines_of("fidelity"))
def test_fidelity_command_reads_the_sample_folder(command, fixtures, monkeypatch):
    """torch-fidelity's own command line parses the line; its metrics are replaced by a
    recorder, which sees existing folders and a recursive search."""
    import torch_fidelity.fidelity as fidelity

    seen = {}
    monkeypatch.setattr(fidelity, "calculate_metrics", lambda **kw: seen.update(kw) or {})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # --gpu sets it; restored afterwards
    monkeypatch.setattr(sys, "argv", shlex.split(substitute(command, fixtures)))
    fidelity.main()
    assert Path(seen["input1"]).is_dir() and Path(seen["input2"]).is_dir()
    assert seen["samples_find_deep"]


@pytest.mark.parametrize("command", lines_of("python -c"))
def test_python_one_liner_compiles(command, fixtures):
    """Another tool's one-liner: it compiles, and the folders it names exist."""
    code = shlex.split(substitute(command, fixtures))[2]
    compile(code, "<docs>", "exec")
    for literal in re.findall(r"'([^']+)'", code):
        assert Path(literal).is_dir(), literal


PYTHON = [
    pytest.param(page, i, id=f"{name(page)} block {i}")
    for page in PAGES
    for i, _ in enumerate(blocks(page, "python"))
]
# Sizes that make the Python examples finish in seconds.
PYTHON_TINY = {"steps=2000": "steps=2, batch=4, tensorboard=False", "samples=360": "samples=20"}


@pytest.mark.parametrize(("page", "index"), PYTHON)
def test_python_example_runs(
    page, index, fixtures, readme_hub, small_standing_stats, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    code = blocks(page, "python")[index]
    for placeholder, real in fixtures.items():  # whole string literals only
        code = code.replace(f'"{placeholder}"', repr(real))
    for big, small in PYTHON_TINY.items():
        code = code.replace(big, small)
    exec(compile(code, f"{name(page)}, Python block {index}", "exec"), {})
