"""``sagan eval``: IS, FID, intra-FID, KID (and digits metrics) as in the paper.

Samples are generated on the fly (classes uniform, quantised to uint8 as saved images
would be) and streamed through the feature network; nothing is written but the results.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagan.commands.common import SOURCE_HELP
from sagan.commands.preflight import check_writable_folder
from sagan.config import DIGITS_CLASSES
from sagan.errors import SaganError
from sagan.training.state import resolve_device

if TYPE_CHECKING:
    import torch

    from sagan.pretrained import Pretrained


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``eval`` and its options."""
    p = sub.add_parser(
        "eval",
        help="IS, FID, intra-FID and KID of a checkpoint or an image folder",
        description=__doc__,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", metavar="SOURCE", help=f"the generator to sample: {SOURCE_HELP}")
    src.add_argument("--fake", help="a folder of generated images to evaluate instead")
    p.add_argument(
        "--metrics",
        default="is,fid",
        help="comma-separated: is,fid,intra_fid,kid,class_accuracy (default is,fid)",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=50_000,
        help="samples to generate (default 50000, the paper's)",
    )
    p.add_argument(
        "--real",
        help="reference data: digits, an image folder or CIFAR-10 (default: the run's training data)",
    )
    p.add_argument("--batch", type=int, default=250, help="images per batch (default 250)")
    p.add_argument(
        "--extractor",
        choices=("auto", "inception", "digits"),
        default="auto",
        help="feature network; auto = digits for digits data, else Inception",
    )
    p.add_argument(
        "--inception-weights",
        metavar="FILE",
        help="the torch-fidelity Inception weights file (or set SAGAN_INCEPTION_WEIGHTS)",
    )
    p.add_argument(
        "--resolution",
        type=int,
        help="with --fake: image size to compare at (default: the fake images')",
    )
    p.add_argument(
        "--kid-subset-size", type=int, default=1000, help="KID subset size (default 1000)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for z (default 0)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--out", help="write the results as JSON here")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Evaluate, print a table and optionally write JSON."""
    from sagan.metrics.evaluate import compute_metrics, evaluate_generator
    from sagan.metrics.features import make_extractor
    from sagan.metrics.registry import parse_metrics
    from sagan.metrics.sources import dataset_batches

    names = parse_metrics(args.metrics)
    check_numbers(args)
    if args.out:
        check_results_file(Path(args.out))
    device = resolve_device(args.device)
    if args.ckpt:
        loaded, real_spec = open_checkpoint(args, names, device)
        G = loaded.G
        resolution = G.cfg.resolution
    else:
        fake_set = open_image_dir(args.fake, args.resolution)
        if not args.real:
            raise SaganError("--fake needs --real: the folder or dataset to compare with")
        real_spec, resolution = args.real, fake_set.resolution
    kind = (
        args.extractor
        if args.extractor != "auto"
        else ("digits" if real_spec == "digits" else "inception")
    )
    extractor = make_extractor(kind, args.inception_weights, device)
    reference = (
        open_reference(real_spec, resolution, extractor, args.batch, device) if real_spec else None
    )
    if args.ckpt:
        results = evaluate_generator(
            G, names, args.samples, reference, extractor, args.batch, args.seed
        )
        results["checkpoint"] = str(loaded.path)
        results["source"] = str(loaded.source)
        results["step"] = loaded.step
    else:
        per_class = "intra_fid" in names
        batches = dataset_batches(fake_set, args.batch, sort_by_class=per_class, desc="fake")
        results = compute_metrics(
            names, batches, extractor, reference, device, args.kid_subset_size
        )
        results.update(
            {
                "fake": str(Path(args.fake).resolve()),
                "extractor": extractor.name,
                "extractor_weights_sha256": extractor.weights_hash,
                "reference": reference.key,
            }
        )
    results["real"] = real_spec
    results["metrics"] = names
    print_table(results)
    if args.out:
        write_results(Path(args.out).expanduser(), results)
        print(f"wrote {args.out}")


def write_results(out: Path, results: dict[str, Any]) -> None:
    """The results as JSON, written atomically (the folder was checked before any work)."""
    from sagan.export import write_atomically

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SaganError(f"cannot write --out '{out}': {e.strerror or e}") from None
    write_atomically(out, (json.dumps(results, indent=2) + "\n").encode())


def open_checkpoint(
    args: argparse.Namespace, names: list[str], device: torch.device
) -> tuple[Pretrained, str]:
    """The loaded SOURCE and the real data to compare with (--real, else the data it was
    trained on), after checking --resolution and the metrics against G."""
    from sagan.pretrained import load

    loaded = load(args.ckpt, device=device)
    G = loaded.G
    real_spec = args.real or loaded.training_data
    if not real_spec:
        raise SaganError(f"{loaded.source} does not record its training data: pass --real")
    resolution = G.cfg.resolution
    if args.resolution not in (None, resolution):
        raise SaganError(
            f"--resolution {args.resolution} does not fit this model, which makes "
            f"{resolution}x{resolution} images: drop --resolution (it is for --fake)"
        )
    check_model_metrics(names, G.cfg.num_classes, args.extractor, real_spec)
    return loaded, real_spec


def check_numbers(args: argparse.Namespace) -> None:
    """--samples, --batch, --kid-subset-size and --resolution must be positive."""
    for flag in ("samples", "batch", "kid_subset_size"):
        if getattr(args, flag) <= 0:
            raise SaganError(
                f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}"
            )
    if args.resolution is not None and args.resolution <= 0:
        raise SaganError(f"--resolution must be positive, got {args.resolution}")


def check_results_file(out: Path) -> None:
    """``--out`` may be new or an earlier result, never a folder or another file."""
    if out.is_dir():
        raise SaganError(f"--out '{out}' is a folder: pass a file name, e.g. '{out / 'eval.json'}'")
    blocking = next((q for q in out.parents if q.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise SaganError(f"cannot write --out '{out}': '{blocking}' is a file, not a folder")
    check_writable_folder(out.parent, "--out", "a file in a folder")
    if out.exists():
        try:
            earlier = json.loads(out.read_text())
        except (OSError, ValueError):
            earlier = None
        if not (isinstance(earlier, dict) and "metrics" in earlier):
            raise SaganError(
                f"--out '{out}' exists and is not an earlier evaluation result: choose a new file"
            )


def check_model_metrics(names: list[str], num_classes: int, extractor: str, real: str) -> None:
    """Metrics that need labels or the digits classifier, checked before any sampling."""
    kind = extractor if extractor != "auto" else ("digits" if real == "digits" else "inception")
    if "class_accuracy" in names and (kind != "digits" or num_classes != DIGITS_CLASSES):
        raise SaganError(
            "class_accuracy needs the digits extractor and a model of the "
            f"{DIGITS_CLASSES} digit classes; this one has {num_classes} classes"
        )
    if "intra_fid" in names and num_classes == 0:
        raise SaganError("intra_fid needs a class-conditional model; this one is unconditional")


def open_reference(
    spec: str, resolution: int, extractor, batch: int, device, progress: bool = True
):
    """The Reference for a data spec at a resolution (the dataset is opened lazily)."""
    from sagan.data import load_dataset
    from sagan.metrics.evaluate import Reference
    from sagan.metrics.sources import FlatImageFolder

    data_id = "digits-train" if spec == "digits" else str(Path(spec).expanduser().resolve())
    path = Path(spec).expanduser()
    from sagan.data.cifar import find_cifar10_dir

    flat = (
        spec != "digits"
        and path.is_dir()
        and find_cifar10_dir(path) is None
        and not any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())
    )
    dataset = FlatImageFolder(path, resolution) if flat else load_dataset(spec, resolution)
    return Reference(dataset, data_id, resolution, extractor, batch, device, progress=progress)


def open_image_dir(path: str, resolution: int | None):
    """A folder of images: with class subfolders (labels) or flat (no labels)."""
    from sagan.metrics.sources import FlatImageFolder

    root = Path(path)
    if not root.is_dir():
        raise SaganError(f"--fake '{path}' is not a folder of images")
    if any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        from sagan.data.folder import ImageFolderDataset

        size = resolution or FlatImageFolder.first_image_size(root, recursive=True)
        ds = ImageFolderDataset(root, size)
        ds.resolution = size
        return ds
    return FlatImageFolder(root, resolution)


def print_table(results: dict[str, Any]) -> None:
    """Metric values in a small aligned table, naming the extractor."""
    rows = [
        (k, v) for k, v in results.items() if isinstance(v, float | int) and not isinstance(v, bool)
    ]
    width = max(len(k) for k, _ in rows)
    print(f"extractor: {results.get('extractor')}")
    for k, v in rows:
        print(f"  {k:<{width}}  {v:.4f}" if isinstance(v, float) else f"  {k:<{width}}  {v}")
