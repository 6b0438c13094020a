"""Run an experiment's settings side by side, one process per GPU (or per CPU slot)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sagan.errors import SaganError
from sagan.experiments.settings import Setting


def run_in_parallel(
    settings: list[Setting], child_argv: list[str], slots: int, use_gpus: bool, log=print
) -> None:
    """Start ``sagan <child_argv> --only NAME`` for every setting, ``slots`` at a time.

    With ``use_gpus``, slot i sees only GPU i (CUDA_VISIBLE_DEVICES), so each setting
    has a GPU to itself. A failed setting stops the experiment with its last error line.
    """
    pending = list(settings)
    running: dict[int, tuple[subprocess.Popen, Setting]] = {}
    while pending or running:
        for slot in range(slots):
            if slot not in running and pending:
                setting = pending.pop(0)
                env = dict(os.environ)
                if use_gpus:
                    env["CUDA_VISIBLE_DEVICES"] = str(slot)
                cmd = [sys.executable, "-m", "sagan", *child_argv, "--only", setting.name]
                log(
                    f"{setting.label}: started on {'GPU ' + str(slot) if use_gpus else 'slot ' + str(slot)}"
                )
                running[slot] = (
                    subprocess.Popen(
                        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                    ),
                    setting,
                )
        for slot, (proc, setting) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[slot]
            err = proc.stderr.read().strip().splitlines() if proc.stderr else []
            if proc.returncode != 0:
                for p, _ in running.values():
                    p.terminate()
                last = err[-1] if err else f"exit status {proc.returncode}"
                raise SaganError(f"setting {setting.name} failed: {last}")
            log(f"{setting.label}: done")
        time.sleep(0.5)


def child_arguments(args, out: Path) -> list[str]:
    """The command line that re-runs this experiment for a single setting."""
    argv = [
        "experiment",
        args.kind,
        "--preset",
        args.preset,
        "--data",
        args.data,
        "--steps",
        str(args.steps),
        "--out",
        str(out),
        "--eval-samples",
        str(args.eval_samples),
        "--seed",
        str(args.seed),
        "--device",
        args.device,
    ]
    for flag in ("batch", "eval_every", "inception_weights"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    if args.grid_steps:
        argv += ["--grid-steps", ",".join(str(s) for s in args.grid_steps)]
    if getattr(args, "fractions", None):
        argv += ["--fractions", ",".join(f"{f:g}" for f in args.fractions)]
    if getattr(args, "remedies", None):
        argv += ["--remedies", ",".join(args.remedies)]
    return argv
