"""``sagan export``: a generator others can load, as safetensors + config.json (and ONNX)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sagan.commands.common import resolve_checkpoint
from sagan.errors import SaganError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``export`` and its options."""
    p = sub.add_parser(
        "export", help="export G as model.safetensors + config.json", description=__doc__
    )
    p.add_argument("--ckpt", required=True, help="checkpoint file or run folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--onnx",
        action="store_true",
        help="also write generator.onnx and check it with onnxruntime",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Export, then say what was written."""
    from sagan.export import export_generator, export_onnx, load_exported

    check_export_folder(Path(args.out))
    ckpt_path, ckpt = resolve_checkpoint(args.ckpt)
    run_dir = ckpt_path.parent.parent
    extra = {}
    summary = run_dir / "summary.json"
    try:
        s = json.loads(summary.read_text()) if summary.is_file() else {}
    except (OSError, ValueError):
        s = {}  # a damaged summary only costs the metrics in the export's config
    if isinstance(s, dict) and s:
        extra["metrics"] = {
            k: s[k] for k in ("class_accuracy", "digits_fid", "digits_fid_real") if k in s
        }
    out = export_generator(ckpt, Path(args.out), extra)
    print(f"wrote {out / 'model.safetensors'} and {out / 'config.json'}")
    if args.onnx:
        report = export_onnx(load_exported(out), out / "generator.onnx")
        msg = f"wrote {report['onnx']}"
        if report["checked"]:
            msg += f" (onnxruntime vs PyTorch: max |diff| {report['max_abs_diff']:.2e})"
        else:
            msg += " (onnxruntime not installed: not checked)"
        print(msg)


def check_export_folder(out: Path) -> None:
    """``--out`` is new, empty or an earlier export: never a run folder or another folder."""
    from sagan.export import EXPORT_FORMAT

    if out.exists() and not out.is_dir():
        raise SaganError(f"--out '{out}' is a file: pass a folder for the exported generator")
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        fmt = json.loads((out / "config.json").read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        fmt = None
    if fmt != EXPORT_FORMAT:
        what = "a run folder" if (out / "checkpoints").is_dir() else "other files"
        raise SaganError(
            f"--out '{out}' holds {what}, not an earlier export: pass a new or empty folder"
        )
