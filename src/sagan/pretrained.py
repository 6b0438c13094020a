"""Loading and saving generators: the one place that turns a SOURCE into networks.

A SOURCE is an exported folder (``sagan export``, ``save_pretrained``), a run folder (its
newest readable checkpoint), a checkpoint file, or a Hugging Face Hub repository id
``org/name`` (optionally ``org/name@revision``). A local path that exists wins over a
Hub id. The command line, the Python API and the explorer all load through ``load``.

Importing this module (``import sagan`` does) installs ``load_generator`` and
``save_pretrained`` behind ``Generator.from_pretrained`` and ``Generator.save_pretrained``:
the models define that hook and import nothing from this layer.

>>> import torch, sagan
>>> G = sagan.Generator(sagan.ModelConfig.from_preset("digits"))
>>> folder = G.save_pretrained(tmp / "exported")
>>> sorted(p.name for p in folder.iterdir())
['README.md', 'config.json', 'model.safetensors', 'samples.png']
>>> z = torch.randn(2, 128)
>>> G2 = sagan.Generator.from_pretrained(folder)
>>> torch.equal(G2.sample([3, 7], z=z), G.sample([3, 7], z=z))
True
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from sagan.config import TrainConfig
from sagan.errors import SaganError
from sagan.export import WEIGHTS_FILE, check_export_folder, read_export, write_export
from sagan.models import Discriminator, Generator
from sagan.models.generator import PretrainedIO, install_pretrained_io
from sagan.training.checkpoint import latest_checkpoint, load_checkpoint

ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w./-]+))?$")
NOT_HUB_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".json")
SUMMARY_METRICS = (
    "class_accuracy",
    "digits_fid",
    "digits_fid_real",
    "diversity",
    "copy_ratio",
    "num_samples",
    "extractor",
)

Kind = Literal["export", "run", "checkpoint", "hub"]


@dataclass(frozen=True)
class Source:
    """Where a SOURCE points: a local export, run folder or checkpoint, or a Hub repository."""

    kind: Kind
    location: str  # a local path, or the repository id
    revision: str | None = None  # Hub only; None is the default branch

    def __str__(self) -> str:
        if self.kind == "hub":
            at = f" at revision {self.revision!r}" if self.revision else ""
            return f"Hub repository '{self.location}'{at}"
        names = {"export": "exported folder", "run": "run folder", "checkpoint": "checkpoint"}
        return f"{names[self.kind]} '{self.location}'"


def resolve_source(source: str | Path | Source, revision: str | None = None) -> Source:
    """Classify SOURCE without loading it; a SOURCE that is nothing is a SaganError."""
    if isinstance(source, Source):
        return source
    text = str(source)
    path = Path(text).expanduser()
    if path.exists():
        if revision is not None:
            raise SaganError(f"a revision applies to Hub ids only, and '{text}' is a local path")
        if path.is_file() and path.suffix == ".safetensors":
            return Source("export", str(path.parent))
        if path.is_dir():
            return Source("export" if (path / WEIGHTS_FILE).exists() else "run", str(path))
        return Source("checkpoint", str(path))
    match = HUB_ID.match(text)
    if match and not text.endswith(NOT_HUB_SUFFIXES):
        rev = match.group("rev")
        if rev and revision and rev != revision:
            raise SaganError(f"'{text}' names revision {rev!r} but revision={revision!r} was given")
        return Source("hub", match.group("repo"), rev or revision)
    raise SaganError(
        f"'{text}' does not exist: pass an exported folder, a run folder, a checkpoint file "
        "or a Hub repository id (org/name)"
    )


@dataclass
class Pretrained:
    """What one SOURCE gives: G (eval mode), the facts an export records, and for a
    checkpoint or run folder the checkpoint itself (from which D can be built)."""

    source: Source
    G: Generator
    info: dict[str, Any]  # class_names, weights, training, metrics (an export's config.json)
    path: Path  # the checkpoint file, or the folder holding model.safetensors
    checkpoint: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def class_names(self) -> list[str]:
        """One name per class ('0', '1', ... when the source has none)."""
        names = self.info.get("class_names")
        k = self.G.cfg.num_classes
        return [str(n) for n in names] if names and len(names) == k else [str(c) for c in range(k)]

    @property
    def training_data(self) -> str | None:
        """The ``--data`` the generator was trained on, when recorded."""
        return (self.info.get("training") or {}).get("data")

    @property
    def step(self) -> int:
        """The training step of these weights (0 when not recorded)."""
        return int((self.info.get("training") or {}).get("steps") or 0)

    def discriminator(self, device: str | torch.device | None = None) -> Discriminator:
        """D of a checkpoint or run folder, in eval mode; an export has none (SaganError)."""
        if self.checkpoint is None:
            raise SaganError(
                f"{self.source} holds the generator only: D needs a training checkpoint "
                "or run folder"
            )
        if self.checkpoint.get("D") is None:
            raise SaganError(
                f"checkpoint '{self.path}' has no 'D' entry: pass one written by sagan train"
            )
        D = discriminator_from_checkpoint(self.checkpoint, self.path)
        return D.to(device or next(self.G.parameters()).device)


def load(
    source: str | Path | Source,
    revision: str | None = None,
    device: str | torch.device = "cpu",
    use_ema: bool = True,
) -> Pretrained:
    """Load SOURCE: G with its recorded facts (and the checkpoint, for a checkpoint or run).

    A checkpoint's EMA weights are used when the run kept them and ``use_ema`` is set. A
    Hub repository comes through huggingface_hub's cache (``HF_HUB_CACHE``; no network
    with ``HF_HUB_OFFLINE=1``) and only its config.json and model.safetensors are read.
    """
    src = resolve_source(source, revision)
    if not use_ema and src.kind in ("export", "hub"):
        raise SaganError(
            f"{src} holds one set of weights: the raw (non-EMA) weights need a training checkpoint"
        )
    if src.kind in ("export", "hub"):
        if src.kind == "hub":
            from sagan.hub import download_export

            folder = download_export(src.location, src.revision)
        else:
            folder = Path(src.location)
        G, info = read_export(folder, device, where=str(src))
        info = {k: v for k, v in info.items() if k not in ("format", "version", "model")}
        return _attach(Pretrained(src, G, info, folder))
    path, ckpt = resolve_checkpoint(src.location)
    G = generator_from_checkpoint(ckpt, device, use_ema)
    return _attach(Pretrained(src, G, checkpoint_info(path, ckpt, use_ema), path, ckpt))


def load_generator(
    source: str | Path, revision: str | None = None, device: str | torch.device = "cpu"
) -> Generator:
    """G of SOURCE in eval mode: what ``Generator.from_pretrained`` returns."""
    return load(source, revision, device).G


def load_discriminator(
    source: str | Path, revision: str | None = None, device: str | torch.device = "cpu"
) -> Discriminator:
    """D of a checkpoint or run folder in eval mode; an export or Hub id is a SaganError."""
    return load(source, revision, device).discriminator()


def _attach(p: Pretrained) -> Pretrained:
    """Keep the recorded facts on G, so that ``G.save_pretrained`` writes them again (as
    long as G's weights are still the ones they describe)."""
    p.G.class_names = p.info.get("class_names")
    p.G.pretrained_info = p.info
    p.G.pretrained_fingerprint = weights_fingerprint(p.G)
    return p


def weights_fingerprint(G: Generator) -> str:
    """sha256 of G's state (names, shapes and values): it changes when G is trained."""
    digest = hashlib.sha256()
    for name, tensor in G.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def recorded_info(G: Generator) -> dict[str, Any]:
    """What G was loaded with; only its class names once its weights have changed, since
    the recipe and metrics would no longer describe it."""
    info = dict(getattr(G, "pretrained_info", None) or {})
    if info and getattr(G, "pretrained_fingerprint", None) != weights_fingerprint(G):
        info = {"class_names": info.get("class_names")}
    info.setdefault("class_names", getattr(G, "class_names", None))
    return info


def save_pretrained(
    G: Generator, folder: str | Path, info: dict[str, Any] | None = None, name: str | None = None
) -> Path:
    """Write G as an export: model.safetensors, config.json, README.md (a model card) and
    samples.png. ``folder`` must be new, empty or an earlier export.

    ``info`` defaults to what G was loaded with (class names, recipe, metrics; only the
    class names once G's weights have changed); ``name``
    (default: the folder's name) is what the card's usage example loads, e.g. a Hub id.
    """
    from sagan.model_card import write_card

    folder = Path(folder).expanduser()
    check_export_folder(folder)
    if info is None:
        info = recorded_info(G)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SaganError(f"cannot write '{folder}': {e.strerror or e}") from None
    write_export(G, folder, info)
    write_card(G, folder, info, name or folder.resolve().name)
    return folder


def resolve_checkpoint(
    path: str | Path, needs: tuple[str, ...] = ("config", "G")
) -> tuple[Path, dict[str, Any]]:
    """A checkpoint file, or a run folder whose newest readable checkpoint is used.

    The checkpoint must hold the entries in ``needs``; its config is checked as well.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        found = latest_checkpoint(p)
        if found is None:
            raise SaganError(f"no checkpoint in '{p}': pass a run folder that has checkpoints/")
        p, ckpt = found
    else:
        _sniff(p)
        ckpt = load_checkpoint(p)
    missing = [k for k in needs if ckpt.get(k) is None]
    if missing:
        raise SaganError(
            f"checkpoint '{p}' has no {missing[0]!r} entry: pass a checkpoint written by sagan train"
        )
    if "config" in needs:
        if not isinstance(ckpt["config"], dict):
            raise SaganError(f"checkpoint '{p}' has a malformed config: is it ours?")
        TrainConfig.from_dict(ckpt["config"], f"checkpoint '{p}'")
    return p, ckpt


def _sniff(p: Path) -> None:
    """Name the common wrong files before torch.load reports them in its own words."""
    if not p.is_file():
        return  # load_checkpoint says it does not exist
    try:
        with p.open("rb") as f:
            head = f.read(4)
    except OSError as e:
        raise SaganError(f"cannot read checkpoint '{p}': {e.strerror or e}") from None
    if not head:
        raise SaganError(
            f"checkpoint '{p}' is empty (an interrupted copy?): pass a complete .pt file"
        )
    if head != ZIP_MAGIC:
        raise SaganError(
            f"'{p}' is not a sagan checkpoint (not a PyTorch .pt file): pass a file from a run's "
            "checkpoints/ or the run folder"
        )


def generator_from_checkpoint(
    ckpt: dict[str, Any], device: torch.device | str = "cpu", use_ema: bool = True
) -> Generator:
    """G of a training checkpoint in eval mode, with its EMA weights when present."""
    cfg = TrainConfig.from_dict(ckpt["config"])
    G = Generator(cfg.model)
    weights = ckpt.get("G_ema") if use_ema and ckpt.get("G_ema") is not None else ckpt["G"]
    try:
        G.load_state_dict(weights)
    except RuntimeError as e:
        raise SaganError(
            f"checkpoint weights do not fit its config: {str(e).splitlines()[0][:160]}"
        ) from None
    return G.to(device).eval()


def discriminator_from_checkpoint(ckpt: dict[str, Any], path: Path | str) -> Discriminator:
    """D of a training checkpoint, in eval mode."""
    D = Discriminator(TrainConfig.from_dict(ckpt["config"]).model)
    try:
        D.load_state_dict(ckpt["D"])
    except RuntimeError as e:
        raise SaganError(
            f"the D weights in '{path}' do not fit its config: {str(e).splitlines()[0][:160]}"
        ) from None
    return D.eval()


def checkpoint_info(path: Path, ckpt: dict[str, Any], use_ema: bool = True) -> dict[str, Any]:
    """What an export of this checkpoint records besides the architecture."""
    cfg = TrainConfig.from_dict(ckpt["config"])
    ema = use_ema and ckpt.get("G_ema") is not None
    step = int(ckpt.get("step", 0))
    return {
        "class_names": ckpt.get("class_names"),
        "weights": "ema" if ema else "generator",
        "training": {
            "preset": cfg.preset,
            "data": cfg.data,
            "steps": step,
            "batch": cfg.batch,
            "n_dis": cfg.n_dis,
            "lr_g": cfg.lr_g,
            "lr_d": cfg.lr_d,
            "beta1": cfg.beta1,
            "beta2": cfg.beta2,
            "ema_decay": cfg.ema_decay if cfg.ema else None,
            "seed": cfg.seed,
            "departures_from_official": cfg.departures(),
        },
        "metrics": run_metrics(path, step) if ema == cfg.ema else {},
    }


def run_metrics(ckpt_path: Path, step: int) -> dict[str, Any]:
    """The run's summary.json metrics when they were measured on this checkpoint's step."""
    summary = Path(ckpt_path).parent.parent / "summary.json"
    try:
        s = json.loads(summary.read_text()) if summary.is_file() else {}
    except (OSError, ValueError):
        s = {}  # a damaged summary only costs the metrics
    if not isinstance(s, dict) or s.get("steps") != step:
        return {}
    return {k: s[k] for k in SUMMARY_METRICS if k in s}


install_pretrained_io(PretrainedIO(load=load_generator, save=save_pretrained))
