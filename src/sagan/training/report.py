"""What a run reports as it goes: sample grids, periodic metrics and the final summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sagan.config import TrainConfig
from sagan.training.checkpoint import checkpoint_path
from sagan.training.run_dir import RunLog
from sagan.training.tensorboard import TensorBoardLog
from sagan.viz.attention import generator_attention_figure
from sagan.viz.curves import plot_run_curves
from sagan.viz.grid import save_sample_grid


def show_samples(G_show, grid_z, grid_y, run_dir: Path, tb: TensorBoardLog, step: int) -> None:
    """The fixed-latent sample grid (PNG and TensorBoard) and G's attention figure (TensorBoard)."""
    path = run_dir / "samples" / f"step-{step:08d}.png"
    tb.images("samples", save_sample_grid(G_show, grid_z, grid_y, path), step)
    if not tb.enabled:
        return
    shown = generator_attention_figure(G_show, grid_z, grid_y)
    if shown is not None:
        tb.figure(f"attention/g.{shown[1]}", shown[0], step)


def report_metrics(
    metrics: dict[str, Any], run_dir: Path, log: RunLog, tb: TensorBoardLog, step: int
) -> None:
    """A periodic evaluation's row: stats.jsonl, TensorBoard, the log and curves.png."""
    log.stats(metrics)
    tb.scalars(metrics, step)
    log.info(" ".join(f"{k[7:]} {v:.4g}" for k, v in metrics.items() if k.startswith("metric/")))
    plot_run_curves(run_dir)


def write_summary(
    cfg: TrainConfig, run_dir: Path, eval_model, G, D, log: RunLog, summary: dict[str, Any]
) -> None:
    """summary.json: the run's figures, and on conditional digits the digits metrics of
    ``eval_model()`` (G, or G_ema with its standing statistics)."""
    step = summary["steps"]
    summary.update(
        checkpoint=str(checkpoint_path(run_dir, step)),
        samples=str(run_dir / "samples" / f"step-{step:08d}.png"),
        g_params=sum(p.numel() for p in G.parameters() if p.requires_grad),
        d_params=sum(p.numel() for p in D.parameters() if p.requires_grad),
    )
    if cfg.data == "digits" and cfg.model.num_classes > 0:
        from sagan.metrics.digits_eval import evaluate_digits

        log.info("evaluating on the held-out digits ...")
        metrics = evaluate_digits(eval_model(), seed=cfg.seed)
        summary.update(metrics)
        log.info(
            f"class_accuracy {metrics['class_accuracy']:.3f}  digits_fid {metrics['digits_fid']:.3f}"
            f"  (real held-out floor {metrics['digits_fid_real']:.3f})"
        )
    with open(run_dir / "summary.json", "w") as f:
        json.dump(summary, f, indent=2)
