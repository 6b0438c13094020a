"""Loading from anywhere (exports, runs, checkpoints, the Hub's cache), publishing to the
Hub up to the upload call, the model card, and the layering rule for the lower layers."""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hub_cache import publish_to_cache

import sagan
from sagan.cli import main
from sagan.pretrained import Source, load, resolve_source

SRC = Path(sagan.__file__).parent
LOWER_LAYERS = sorted([*SRC.glob("models/*.py"), SRC / "losses.py", *SRC.glob("data/*.py")])
BELOW_EVERYTHING = {"config", "config_check", "errors", "presets"}
REPOSITORY_CHECK = re.compile(
    r"^\s*(from|import) sagan\.(commands|training|experiments|cli|api|export|pretrained|viz|metrics)",
    re.M,
)


def _sagan_imports(path: Path) -> list[str]:
    """Every sagan module a file imports, at the top or inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [m for m in found if m == "sagan" or m.startswith("sagan.")]


@pytest.mark.parametrize("path", LOWER_LAYERS, ids=lambda p: str(p.relative_to(SRC)))
def test_models_losses_and_data_import_nothing_above_them(path):
    own = path.stem if path.parent == SRC else path.parent.name
    above = [
        m
        for m in _sagan_imports(path)
        if m.split(".")[1:2] not in ([own], *[[b] for b in BELOW_EVERYTHING])
    ]
    assert not above, f"{path.relative_to(SRC)} imports {above}"
    if path.parent.name == "models":
        assert not REPOSITORY_CHECK.search(path.read_text())


@pytest.fixture(scope="module")
def exported(ema_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported") / "sagan-digits"
    assert main(["export", "--ckpt", str(ema_run), "--out", str(out)]) == 0
    return out


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty huggingface_hub cache for this test, offline (what HF_HUB_CACHE and
    HF_HUB_OFFLINE=1 set when huggingface_hub is imported)."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def _inputs(n: int = 6, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.randn(n, 128, generator=torch.Generator().manual_seed(seed))
    return z, torch.arange(n) % 10


def test_a_cached_hub_repository_loads_offline_with_the_exports_samples(exported, tmp_path):
    """In a fresh process that imports only ``sagan``: from_pretrained('org/name') through
    huggingface_hub's own cache resolution, and save_pretrained."""
    cache = tmp_path / "hub-cache"
    publish_to_cache(exported, cache, "sagan-test/digits")
    z, y = _inputs()
    torch.save({"z": z, "y": y}, tmp_path / "inputs.pt")
    script = (
        "import torch, sagan; d = torch.load(r'{inputs}'); "
        "G = sagan.Generator.from_pretrained('sagan-test/digits'); "
        "torch.save(G.sample(d['y'], z=d['z']), r'{out}'); G.save_pretrained(r'{again}')"
    ).format(inputs=tmp_path / "inputs.pt", out=tmp_path / "hub.pt", again=tmp_path / "again")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    local = sagan.Generator.from_pretrained(exported).sample(y, z=z)
    assert torch.equal(torch.load(tmp_path / "hub.pt"), local)
    again = tmp_path / "again" / "model.safetensors"
    assert again.read_bytes() == (exported / "model.safetensors").read_bytes()


def test_hub_revisions_branch_tag_and_commit(exported, hub, tmp_path):
    other = sagan.Generator(sagan.ModelConfig.from_preset("digits")).save_pretrained(tmp_path / "o")
    main_commit = publish_to_cache(exported, hub, "org/digits")
    v1_commit = publish_to_cache(other, hub, "org/digits", revision="v1")
    z, y = _inputs()
    want_main = sagan.Generator.from_pretrained(exported).sample(y, z=z)
    want_v1 = sagan.Generator.from_pretrained(other).sample(y, z=z)
    assert torch.equal(sagan.Generator.from_pretrained("org/digits").sample(y, z=z), want_main)
    for source, revision in [
        ("org/digits", "v1"),
        ("org/digits@v1", None),
        ("org/digits", v1_commit),
    ]:
        G = sagan.Generator.from_pretrained(source, revision=revision)
        assert torch.equal(G.sample(y, z=z), want_v1), (source, revision)
    assert load("org/digits").path.name == main_commit


def test_loading_from_the_hub_never_unpickles(exported, hub, monkeypatch):
    publish_to_cache(exported, hub, "org/digits")

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    for module, name in [(torch, "load"), (pickle, "load"), (pickle, "loads")]:
        monkeypatch.setattr(module, name, refuse)
    G = sagan.Generator.from_pretrained("org/digits")
    assert G.cfg.num_classes == 10 and not G.training


def test_a_local_path_wins_over_a_hub_id(exported, hub, tmp_path, monkeypatch):
    publish_to_cache(exported, hub, "org/digits")
    monkeypatch.chdir(tmp_path)
    local = sagan.Generator(sagan.ModelConfig.from_preset("digits"))
    local.save_pretrained(Path("org") / "digits")
    assert resolve_source("org/digits") == Source("export", "org/digits")
    z, y = _inputs()
    assert torch.equal(
        sagan.Generator.from_pretrained("org/digits").sample(y, z=z), local.sample(y, z=z)
    )


@pytest.mark.parametrize(
    ("files", "source", "phrase"),
    [
        (None, "org/absent", "is not in the Hugging Face cache"),
        (
            {"config.json": b'{"model_type": "bert"}', "model.safetensors": b"x"},
            "org/bert",
            "not a sagan generator",
        ),
        ({"config.json": b"[1, 2]"}, "org/odd", "not a sagan generator"),
        (None, "org/digits@v9", "at revision 'v9'"),
        (None, "not/a/hub/id", "does not exist"),
    ],
    ids=["missing", "other-library", "config-not-an-object", "missing-revision", "neither"],
)
def test_hub_sources_that_are_not_sagan_generators_are_one_line_errors(
    exported, hub, files, source, phrase
):
    publish_to_cache(exported, hub, "org/digits")
    if files is not None:
        publish_to_cache(None, hub, source, files=files)
    with pytest.raises(sagan.SaganError, match=re.escape(phrase)) as e:
        sagan.Generator.from_pretrained(source)
    assert "\n" not in str(e.value)


def test_the_discriminator_comes_from_checkpoints_only(ema_run, exported, hub):
    loaded = load(ema_run)
    D = loaded.discriminator()
    assert isinstance(D, sagan.Discriminator) and not D.training
    assert loaded.checkpoint is not None and loaded.step == 3 and loaded.class_names[3] == "3"
    publish_to_cache(exported, hub, "org/digits")
    for source in (exported, "org/digits"):
        with pytest.raises(sagan.SaganError, match="holds the generator only"):
            sagan.pretrained.load_discriminator(source)


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "--out", "{tmp}/samples", "--images", "20", "--device", "cpu"],
        ["sample", "--out", "{tmp}/grid.png", "--n", "2", "--device", "cpu"],
        ["interpolate", "--out", "{tmp}/walk.gif", "--steps", "3", "--device", "cpu"],
        ["attention", "--out", "{tmp}/attn.png"],
        ["eval", "--metrics", "fid", "--samples", "20", "--batch", "20", "--device", "cpu"],
        ["export", "--out", "{tmp}/again"],
    ],
    ids=lambda a: a[0] + ("-grid" if "grid.png" in a[1:][1] else ""),
)
def test_every_command_with_ckpt_takes_a_hub_id(exported, hub, tmp_path, argv):
    publish_to_cache(exported, hub, "org/digits")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main([argv[0], "--ckpt", "org/digits", *argv[1:]]) == 0
    if argv[0] == "export":
        for name in ("model.safetensors", "config.json"):
            assert (tmp_path / "again" / name).read_bytes() == (exported / name).read_bytes()


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_the_model_card_parses_and_its_metrics_are_the_runs_summary(exported, ema_run):
    from huggingface_hub import ModelCard

    text = (exported / "README.md").read_text()
    meta = _front_matter(text)
    summary = json.loads((ema_run / "summary.json").read_text())
    assert meta["library_name"] == "sagan" and meta["datasets"] == ["digits"]
    assert {"gan", "image-generation", "class-conditional"} <= set(meta["tags"])
    metrics = {m["type"]: m for r in meta["model-index"][0]["results"] for m in r["metrics"]}
    names = ("class_accuracy", "digits_fid", "digits_fid_real", "diversity", "copy_ratio")
    assert {k: m["value"] for k, m in metrics.items()} == {k: summary[k] for k in names}
    for key, m in metrics.items():
        pixels = key in ("diversity", "copy_ratio")  # measured on pixels: no feature network
        assert m["args"] == {
            **({} if pixels else {"extractor": summary["extractor"]}),
            "num_samples": summary["num_samples"],
        }
    assert ModelCard.load(exported / "README.md").data.library_name == "sagan"
    usage = text.split("```python\n")[1].split("```")[0].strip().splitlines()
    assert len(usage) == 3 and 'from_pretrained("sagan-digits")' in usage[1]
    assert "![" in text and "(samples.png)" in text and "## Architecture" in text
    assert "## Training recipe" in text and "| G steps | 3 |" in text
    from PIL import Image

    with Image.open(exported / "samples.png") as im:
        assert im.size[0] > 8 * 16 and im.size[1] > 10 * 16  # 8 columns, 10 class rows


def test_push_to_hub_hands_the_export_to_huggingface_hubs_upload(ema_run, tmp_path, monkeypatch):
    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects

    calls: dict = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"] = (repo_id, kwargs)
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        folder = Path(folder_path)
        names = filter_repo_objects(
            [p.name for p in folder.iterdir() if p.is_file()],
            allow_patterns=kwargs.get("allow_patterns"),
            ignore_patterns=kwargs.get("ignore_patterns"),
        )
        calls["upload_folder"] = (repo_id, {n: (folder / n).read_bytes() for n in names}, kwargs)
        return f"https://huggingface.co/{repo_id}/commit/0123"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    token = "hf_test_token_that_must_not_be_written"
    monkeypatch.setenv("HF_TOKEN", token)
    out = tmp_path / "to-push"
    argv = ["export", "--ckpt", str(ema_run), "--out", str(out)]
    assert main([*argv, "--push-to-hub", "org/sagan-digits", "--private"]) == 0

    repo_id, kwargs = calls["create_repo"]
    assert repo_id == "org/sagan-digits" and kwargs["private"] is True and kwargs["exist_ok"]
    repo_id, files, kwargs = calls["upload_folder"]
    assert repo_id == "org/sagan-digits" and kwargs.get("repo_type") == "model"
    assert set(files) == {"README.md", "config.json", "model.safetensors", "samples.png"}
    assert all(files[n] == (out / n).read_bytes() for n in files)
    handed = tmp_path / "handed"
    handed.mkdir()
    for name, data in files.items():
        (handed / name).write_bytes(data)
    z, y = _inputs()
    want = sagan.pretrained.generator_from_checkpoint(load(ema_run).checkpoint).sample(y, z=z)
    assert torch.equal(sagan.Generator.from_pretrained(handed).sample(y, z=z), want)
    card = files["README.md"].decode()
    assert 'from_pretrained("org/sagan-digits")' in card
    assert _front_matter(card)["model-index"][0]["name"] == "org/sagan-digits"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert not written


def test_save_pretrained_keeps_the_recipe_and_metrics_only_for_unchanged_weights(
    exported, tmp_path
):
    G = sagan.Generator.from_pretrained(exported)
    same = json.loads((G.save_pretrained(tmp_path / "same") / "config.json").read_text())
    assert same == json.loads((exported / "config.json").read_text())
    with torch.no_grad():
        G.conv_out.weight.mul_(0.5)  # as training would change it
    changed = json.loads((G.save_pretrained(tmp_path / "changed") / "config.json").read_text())
    assert "metrics" not in changed and "training" not in changed
    assert changed["class_names"] == same["class_names"]
    assert "## Metrics" not in (tmp_path / "changed" / "README.md").read_text()
