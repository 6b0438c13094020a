"""Run an experiment's settings one after another; each is a normal, resumable run folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from sagan.config import TrainConfig
from sagan.experiments.settings import Setting
from sagan.training.checkpoint import list_checkpoints
from sagan.training.loop import train


def setting_run_dir(out: Path, setting: Setting) -> Path | None:
    """The run folder of a setting, if one was started."""
    parent = Path(out) / setting.name
    runs = (
        sorted(p for p in parent.glob("[0-9]" * 5 + "-*") if p.is_dir()) if parent.is_dir() else []
    )
    return runs[-1] if runs else None


def run_settings(
    settings: list[Setting], base: TrainConfig, out: Path, log=print
) -> dict[str, Path]:
    """Train every setting to ``base.steps``; finished ones are skipped, started ones resumed."""
    done: dict[str, Path] = {}
    for i, setting in enumerate(settings):
        cfg = setting.apply(base, str(Path(out) / setting.name))
        run = setting_run_dir(out, setting)
        prefix = f"[{i + 1}/{len(settings)}] {setting.label}"
        if run is not None and _finished(run, cfg.steps):
            log(f"{prefix}: already done ({run})")
        elif run is not None and list_checkpoints(run):
            log(f"{prefix}: resuming {run}")
            saved = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
            train(dataclasses.replace(saved, steps=cfg.steps), resume=run, quiet=True)
        else:
            log(f"{prefix}: training {cfg.steps} steps")
            run = train(cfg, quiet=True)
        done[setting.name] = run
    return done


def _finished(run: Path, steps: int) -> bool:
    summary = run / "summary.json"
    return summary.is_file() and json.loads(summary.read_text()).get("steps", 0) >= steps
