"""``sagan export``: a generator others can load: model.safetensors, config.json, a model
card (README.md) with a sample grid, optionally ONNX, optionally pushed to the Hub."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from sagan.commands.common import SOURCE_HELP
from sagan.commands.preflight import check_output_folder
from sagan.errors import SaganError

ONNX_FILE = "generator.onnx"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``export`` and its options."""
    p = sub.add_parser(
        "export",
        help="export G as model.safetensors + config.json + a model card",
        description=__doc__,
    )
    p.add_argument("--ckpt", required=True, metavar="SOURCE", help=SOURCE_HELP)
    p.add_argument("--out", required=True, help="output folder (new, empty or an earlier export)")
    p.add_argument(
        "--onnx",
        action="store_true",
        help="also write generator.onnx and check it with onnxruntime",
    )
    p.add_argument(
        "--push-to-hub",
        metavar="ORG/NAME",
        help="then upload the folder to this Hugging Face Hub model repository",
    )
    p.add_argument("--private", action="store_true", help="with --push-to-hub: a private repo")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Check the target (and the Hub login), export, then say what was written."""
    from sagan.export import check_export_folder, export_onnx, read_export
    from sagan.model_card import write_card
    from sagan.pretrained import load, save_pretrained

    out = Path(args.out).expanduser()
    check_export_folder(out)
    check_output_folder(out)
    if args.private and not args.push_to_hub:
        raise SaganError("--private applies to --push-to-hub: add --push-to-hub org/name")
    if args.onnx:
        check_onnx_installed()
    if args.push_to_hub:
        from sagan.hub import check_push_target

        check_push_target(args.push_to_hub)
    loaded = load(args.ckpt)
    name = args.push_to_hub or out.resolve().name
    save_pretrained(loaded.G, out, loaded.info, name)
    print(f"wrote {out / 'model.safetensors'}, config.json, README.md and samples.png")
    if args.onnx:
        report = export_onnx(read_export(out)[0], out / ONNX_FILE)
        msg = f"wrote {report['onnx']}"
        if report["checked"]:
            msg += f" (onnxruntime vs PyTorch: max |diff| {report['max_abs_diff']:.2e})"
        else:
            msg += " (onnxruntime not installed: not checked)"
        print(msg)
        write_card(loaded.G, out, loaded.info, name, grid=False)  # the card lists the ONNX file
    if args.push_to_hub:
        from sagan.hub import push_folder

        url = push_folder(out, args.push_to_hub, private=args.private)
        print(f"pushed {out} to {args.push_to_hub}: {url}")


def check_onnx_installed() -> None:
    """--onnx needs the onnx and onnxscript packages: say so before any work."""
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise SaganError(
            f"--onnx needs the {' and '.join(missing)} package: pip install 'sagan[onnx]'"
        )
