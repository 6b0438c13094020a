"""Checks the commands make before they compute or write anything, so that bad input
fails in one line and leaves existing run folders and outputs as they were.

The output checks (``check_writable_folder``, ``check_output_file``,
``check_output_folder``) serve every command that writes: train, sample, interpolate,
attention, eval and export.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any

from sagan.config import TrainConfig
from sagan.errors import SaganError

UNREADABLE_PREFIX = "warning: skipping unreadable checkpoint: "


def check_writable_folder(folder: str | Path, flag: str = "--out", what: str = "a folder") -> None:
    """``folder`` can take new files: it is a folder that does, or it can be made in the
    nearest folder above it that exists and does.

    Writability is probed by creating and removing a file: permission bits do not tell
    about root, read-only mounts or /proc.
    """
    path = Path(folder).expanduser()
    blocking = next((q for q in (path, *path.parents) if q.exists()), Path.cwd())
    if not blocking.is_dir():
        where = "is a file" if blocking == path else f"lies under the file '{blocking}'"
        raise SaganError(f"{flag} '{folder}' {where}: pass {what}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".sagan-probe-", dir=blocking)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        why = (
            "it is read-only"
            if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
            else (e.strerror or str(e))
        )
        raise SaganError(
            f"cannot write {flag} '{folder}': no file can be created in '{blocking}' ({why}); "
            "choose a writable folder"
        ) from None


def check_output_file(
    path: str | Path, suffixes: tuple[str, ...], what: str, flag: str = "--out"
) -> Path:
    """``path`` names a new or replaceable file with one of ``suffixes`` (not a folder),
    in a folder that exists or can be made, and that takes new files."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise SaganError(
            f"{flag} '{path}' is a folder: pass a file name, e.g. '{p / ('out' + suffixes[0])}'"
        )
    if p.suffix.lower() not in suffixes:
        raise SaganError(
            f"{flag} '{path}' must end in {', '.join(suffixes)} ({what}), "
            f"e.g. '{p.with_suffix(suffixes[0])}'"
        )
    blocking = next((q for q in p.parents if q.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise SaganError(f"cannot write {flag} '{path}': '{blocking}' is a file, not a folder")
    if p.exists() and not p.is_file():
        raise SaganError(f"{flag} '{path}' is not a regular file: pass a new file name")
    check_writable_folder(p.parent, flag, "a file in a folder")
    return p


def check_output_folder(path: str | Path, flag: str = "--out") -> Path:
    """``path`` is a folder that exists or can be made, and that takes new files."""
    check_writable_folder(path, flag, "a folder")
    return Path(path).expanduser()


def check_new_run_out(out: str) -> None:
    """``--out`` is the parent of run folders; refuse a run folder itself (runs would nest)."""
    path = Path(out).expanduser()
    check_writable_folder(out, "--out", "a folder for run folders")
    if (path / "config.json").is_file() and (path / "checkpoints").is_dir():
        parent = path.parent if str(path.parent) != "." else "runs"
        raise SaganError(
            f"--out '{out}' is a run folder: pass the folder that holds runs (e.g. '{parent}'), "
            f"or --resume {out} to continue that run"
        )


def resume_folder(run_dir: str) -> Path:
    """The run folder of ``--resume``, with a pointer to the newest run when given its parent."""
    path = Path(run_dir).expanduser()
    if (path / "config.json").is_file():
        return path
    if not path.exists():
        raise SaganError(f"--resume '{run_dir}' does not exist: pass a runs/NNNNN-... folder")
    runs = (
        sorted(p for p in path.iterdir() if (p / "config.json").is_file()) if path.is_dir() else []
    )
    hint = f" (the newest run in it is '{runs[-1]}')" if runs else ""
    raise SaganError(
        f"'{run_dir}' is not a run folder (no config.json): pass a runs/NNNNN-... folder{hint}"
    )


def check_resume(cfg: TrainConfig, run_dir: str) -> None:
    """The run has a readable checkpoint of the model its config.json describes."""
    from sagan.training.checkpoint import latest_checkpoint

    unreadable: list[str] = []
    found = latest_checkpoint(Path(run_dir), warn=unreadable.append)
    if found is None:
        why = f" ({unreadable[0].removeprefix(UNREADABLE_PREFIX)})" if unreadable else ""
        raise SaganError(
            f"no readable checkpoint in '{Path(run_dir) / 'checkpoints'}'{why}: cannot resume; "
            "start a new run without --resume"
        )
    path, ckpt = found
    saved = _checkpoint_config(ckpt, path)
    if saved.preset != cfg.preset or saved.model != cfg.model:
        raise SaganError(
            f"checkpoint '{path}' is of another model than the run's config.json "
            f"({_model_difference(saved, cfg)}): resume the run it came from, or start a new run"
        )


def check_data_classes(cfg: TrainConfig, num_classes: int) -> None:
    """A resumed run's data still has the classes the model was trained on."""
    if cfg.model.num_classes not in (0, num_classes):
        raise SaganError(
            f"the run was trained on {cfg.model.num_classes} classes but '{cfg.data}' now has "
            f"{num_classes}: restore the data, or start a new run"
        )


def _checkpoint_config(ckpt: dict[str, Any], path: Path) -> TrainConfig:
    if not isinstance(ckpt.get("config"), dict):
        raise SaganError(f"'{path}' has no training config: it is not a sagan train checkpoint")
    return TrainConfig.from_dict(ckpt["config"], f"checkpoint '{path}'")


def _model_difference(saved: TrainConfig, run: TrainConfig) -> str:
    """'preset cifar32 vs digits', 'num_classes 5 vs 3', ...: the first thing that differs."""
    if saved.preset != run.preset:
        return f"preset {saved.preset} vs {run.preset}"
    for name, value in vars(saved.model).items():
        if getattr(run.model, name) != value:
            return f"{name} {value} vs {getattr(run.model, name)}"
    return "same settings"


def check_data_decodes(dataset: Any) -> None:
    """Decode one training image now: a folder whose images all fail (their headers read but
    their pixels do not, as in truncated files) fails here, before a run folder exists."""
    if len(dataset) == 0:
        raise SaganError("the training data has no images: pass another --data")
    dataset[0]  # an image folder tries every file before it gives up with a SaganError


def check_evaluation(cfg: TrainConfig) -> None:
    """The feature network of ``--eval-every`` is available now, not only at the first eval."""
    if cfg.eval_every and cfg.resolved_extractor == "inception":
        from sagan.metrics.features import find_inception_weights

        find_inception_weights(cfg.inception_weights)


def check_gpus(gpus: int | None, batch: int) -> None:
    """``--gpus N`` needs N >= 1 and a global batch that splits evenly, checked before launch."""
    if gpus is None or os.environ.get("WORLD_SIZE"):
        return
    if gpus < 1:
        raise SaganError(f"--gpus must be at least 1, got {gpus}")
    if batch % gpus:
        raise SaganError(
            f"--batch {batch} is the global batch and must split evenly over --gpus {gpus}: "
            f"pass a multiple of {gpus}"
        )
