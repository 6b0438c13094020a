"""Numbered run folders (``runs/00000-<preset>-<data>``) and the run's log."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import torch.distributed as dist
from tqdm import tqdm

from sagan.config import TrainConfig
from sagan.config_io import save_config
from sagan.data import dataset_name
from sagan.errors import SaganError
from sagan.training.distributed import World

_RUN = re.compile(r"^(\d{5})-")


def create_run_dir(out: str | Path, desc: str) -> Path:
    """Make the next numbered run folder under ``out``; never reuse an existing one."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SaganError(f"--out '{out}' is a file: pass a folder for run folders")
    try:
        out.mkdir(parents=True, exist_ok=True)
        ids = [int(m.group(1)) for p in out.iterdir() if (m := _RUN.match(p.name))]
        run = out / f"{max(ids, default=-1) + 1:05d}-{desc}"
        run.mkdir()
    except OSError as e:
        raise SaganError(
            f"cannot write to --out '{out}' ({e.strerror or e}): choose a writable folder"
        ) from None
    (run / "samples").mkdir()
    (run / "checkpoints").mkdir()
    return run


class RunLog:
    """Messages to the console (above the progress bar) and to log.txt; stats to stats.jsonl."""

    def __init__(self, run_dir: Path, quiet: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        self._log = open(self.run_dir / "log.txt", "a", buffering=1)  # noqa: SIM115 (lives with the run)
        self._stats = open(self.run_dir / "stats.jsonl", "a", buffering=1)  # noqa: SIM115

    def info(self, msg: str) -> None:
        """Print a line and append it, time-stamped, to log.txt."""
        if not self.quiet:
            tqdm.write(msg)
        self.record(msg)

    def record(self, msg: str) -> None:
        """Append a line to log.txt only (it was already shown, or is kept out of sight)."""
        if self._log.closed:  # a late notice after the run has ended
            return
        self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")

    def stats(self, row: dict[str, Any]) -> None:
        """Append one JSON row to stats.jsonl."""
        self._stats.write(json.dumps(row) + "\n")

    def close(self) -> None:
        """Close both files."""
        self._log.close()
        self._stats.close()


class NullLog(RunLog):
    """The log of a rank other than 0: it prints and writes nothing."""

    def __init__(self) -> None:
        self.quiet = True

    def info(self, msg: str) -> None:
        """Drop the line."""

    def record(self, msg: str) -> None:
        """Drop the line."""

    def stats(self, row: dict[str, Any]) -> None:
        """Drop the row."""

    def close(self) -> None:
        """Nothing to close."""


class StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM asks the loop to stop at the end of the current step.

    The loop then saves a checkpoint whose state is exactly that of a step boundary, so
    the resumed run is the uninterrupted one. A second signal stops at once.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        """Route SIGINT and SIGTERM here (only the main thread can)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def open_run(
    cfg: TrainConfig, world: World, resume: str | Path | None, resolved: dict[str, Any]
) -> Path:
    """Rank 0 creates (or reopens) the run folder and tells the others where it is."""
    msg: list[Any] = [None, None]
    if world.is_main:
        try:
            if resume is None:
                run_dir = create_run_dir(cfg.out, f"{cfg.preset}-{dataset_name(cfg.data)}")
            else:
                run_dir = Path(resume)
            save_config(cfg, run_dir / "config.json", resolved)
            msg = [str(run_dir), None]
        except (SaganError, OSError) as e:
            msg = [None, str(e)]
    if world.distributed:
        dist.broadcast_object_list(msg, src=0)
    if msg[1] is not None:
        raise SaganError(msg[1]) if world.is_main else SaganError("rank 0 failed: " + msg[1])
    return Path(msg[0])
