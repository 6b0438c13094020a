"""Checkpoints: one dict of state_dicts, written atomically, the newest K kept."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from sagan.errors import SaganError

FORMAT = "sagan-checkpoint"
VERSION = 1
_NAME = re.compile(r"^ckpt-(\d+)\.pt$")


def checkpoint_path(run_dir: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives in a run folder."""
    return Path(run_dir) / "checkpoints" / f"ckpt-{step:08d}.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file, fsync, then os.replace.

    A crash at any moment leaves either the old file or the complete new one.
    """
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(".tmp-*.pt"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) or _is_write_failure(e):
            raise SaganError(_write_error(path, e)) from None
        raise


def _is_write_failure(e: BaseException) -> bool:
    """torch.save reports a failed write as a RuntimeError wrapping the OS error."""
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("write" in text or "no space" in text)


def _write_error(path: Path, e: BaseException) -> str:
    """One line naming the cause of a failed checkpoint write and what is still safe."""
    code = getattr(e, "errno", None)
    if code == errno.ENOSPC or "no space" in str(e).lower():
        cause = "the disk is full"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM):
        cause = "the folder is read-only"
    else:
        cause = getattr(e, "strerror", None) or str(e).splitlines()[0][:120]
    previous = list_checkpoints(path.parent.parent)
    kept = (
        f"the previous checkpoint {previous[-1].name} is intact"
        if previous
        else "no earlier checkpoint"
    )
    return (
        f"cannot write checkpoint '{path}': {cause}; {kept}. Free space or fix the folder, "
        f"then resume with --resume {path.parent.parent}"
    )


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint; a missing, truncated or foreign file is a SaganError."""
    path = Path(path)
    if not path.is_file():
        raise SaganError(
            f"checkpoint '{path}' does not exist: pass a .pt file from a run's checkpoints/"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle of something else, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SaganError(
            f"checkpoint '{path}' cannot be read ({first[:120]}): is it complete and ours?"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SaganError(
            f"'{path}' is not a sagan checkpoint: pass a file from a run's checkpoints/"
        )
    if state.get("version", 0) > VERSION:
        raise SaganError(
            f"checkpoint '{path}' has format version {state['version']}; upgrade sagan"
        )
    return state


def list_checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoints, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path, warn=print) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads, skipping (and reporting) any that do not."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            return path, load_checkpoint(path)
        except SaganError as e:
            warn(f"warning: skipping unreadable checkpoint: {e}")
    return None


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    for path in list_checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)
