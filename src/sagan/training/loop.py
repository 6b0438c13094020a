"""The training loop: one function that reads straight through in labelled sections."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from sagan.config import TrainConfig, save_config
from sagan.data import dataset_name, load_dataset
from sagan.data.sampler import InfiniteSampler
from sagan.errors import SaganError, TrainingInterrupted
from sagan.models import Discriminator, Generator
from sagan.training.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from sagan.training.ema import EMA
from sagan.training.periodic_eval import PeriodicEval
from sagan.training.run_dir import RunLog, create_run_dir, stop_on_sigterm
from sagan.training.state import (
    attention_gammas,
    draw_latents,
    resolve_device,
    restore_state,
    training_state,
)
from sagan.training.steps import d_step, g_step
from sagan.training.tensorboard import TensorBoardLog
from sagan.viz.attention import generator_attention_figure
from sagan.viz.curves import plot_run_curves
from sagan.viz.grid import fixed_grid_latents, save_sample_grid


def train(
    cfg: TrainConfig,
    resume: str | Path | None = None,
    dataset: Dataset | None = None,
    quiet: bool = False,
) -> Path:
    """Train a SAGAN as ``cfg`` says and return its run folder.

    With ``resume``, continue the run in that folder from its newest checkpoint; on CPU
    the result is bit-identical to a run that was never interrupted.
    """
    # Set up the run folder and the log.
    device = resolve_device(cfg.device)
    if resume is None:
        run_dir = create_run_dir(cfg.out, f"{cfg.preset}-{dataset_name(cfg.data)}")
        save_config(cfg, run_dir / "config.json")
    else:
        run_dir = Path(resume)
        save_config(cfg, run_dir / "config.json")
    log = RunLog(run_dir, quiet=quiet)
    tb = TensorBoardLog(run_dir, cfg.tensorboard)
    log.info(f"run folder: {run_dir}")

    # Load the training data.
    if dataset is None:
        dataset = load_dataset(cfg.data, cfg.model.resolution, log.info)
    else:
        for msg in getattr(dataset, "messages", []):
            log.record(msg)
    if cfg.model.num_classes not in (0, dataset.num_classes):
        raise SaganError(
            f"the model has {cfg.model.num_classes} classes but the data has {dataset.num_classes}"
        )
    conditional = cfg.model.num_classes > 0

    # Build the networks, optimizers and EMA.
    torch.manual_seed(cfg.seed)
    G = Generator(cfg.model).to(device)
    D = Discriminator(cfg.model).to(device)
    betas = (cfg.beta1, cfg.beta2)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=betas)
    ema = EMA(G, cfg.ema_decay) if cfg.ema else None
    noise = torch.Generator().manual_seed(cfg.seed + 1)
    start = 0

    # Resume from the newest complete checkpoint.
    if resume is not None:
        found = latest_checkpoint(run_dir, warn=log.info)
        if found is None:
            raise SaganError(f"no readable checkpoint in '{run_dir}/checkpoints': cannot resume")
        path, ckpt = found
        start = restore_state(ckpt, G, D, opt_g, opt_d, ema, noise)
        log.info(f"resumed from {path.name} at step {start}")
    if start >= cfg.steps:
        log.info(f"already at step {start} of {cfg.steps}; pass a larger --steps to go on")

    # The data stream, positioned where this step's batches begin.
    sampler = InfiniteSampler(len(dataset), cfg.seed, start=start * cfg.n_dis * cfg.batch)
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch,
        sampler=sampler,
        drop_last=True,
        num_workers=cfg.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=cfg.workers > 0,
    )
    batches = iter(loader)
    grid_z, grid_y = fixed_grid_latents(cfg.model, cfg.seed)
    periodic_eval = PeriodicEval(cfg, device) if cfg.eval_every else None
    skipped = 0
    log.info(
        f"G {sum(p.numel() for p in G.parameters()):,} params, D "
        f"{sum(p.numel() for p in D.parameters()):,} params, {len(dataset):,} images, "
        f"{dataset.num_classes} classes, device {device}"
    )

    def checkpoint(step: int) -> None:
        if ema is not None:
            ema.standing_stats(cfg.seed)  # saved G_ema samples well on its own
        state = training_state(step, cfg, G, D, opt_g, opt_d, ema, noise)
        state["class_names"] = [str(c) for c in dataset.classes]
        save_checkpoint(checkpoint_path(run_dir, step), state)
        prune_checkpoints(run_dir, cfg.keep_ckpts)

    # Main loop (SIGTERM, like Ctrl-C, ends it with a final checkpoint).
    stop_on_sigterm()
    bar = tqdm(
        total=cfg.steps, initial=start, desc="train", unit="step", dynamic_ncols=True, disable=quiet
    )
    t_run, t_last, step = time.time(), time.time(), start
    row: dict[str, Any] = {}
    try:
        for step in range(start, cfg.steps):
            # D phase.
            for _ in range(cfg.n_dis):
                real, y_real, n_bad = next(batches)
                skipped += int(n_bad.sum())
                x_real = real.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
                y_real = y_real.to(device) if conditional else None
                losses = d_step(
                    G, D, opt_d, x_real, y_real, *draw_latents(cfg.model, cfg.batch, noise, device)
                )

            # G phase.
            losses["g_loss"] = g_step(
                G, D, opt_g, *draw_latents(cfg.model, cfg.batch, noise, device)
            )

            # Update G_ema.
            if ema is not None:
                ema.update(G)

            # Log, sample and checkpoint.
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                now = time.time()
                sec = (now - t_last) / (cfg.log_every if done % cfg.log_every == 0 else 1)
                t_last = now
                row = {
                    "step": done,
                    **{k: v.item() for k, v in losses.items()},
                    **{f"gamma/{k}": v for k, v in attention_gammas(G, D).items()},
                    "sec_per_step": sec,
                    "images_per_sec": cfg.batch * cfg.n_dis / max(sec, 1e-9),
                    "skipped_images": skipped,
                }
                log.stats(row)
                tb.scalars(row, done)
                bar.set_postfix(d=f"{row['d_loss']:.3f}", g=f"{row['g_loss']:.3f}")
            if done % cfg.sample_every == 0 or done == cfg.steps:
                G_show = ema.standing_stats(cfg.seed) if ema else G
                path = run_dir / "samples" / f"step-{done:08d}.png"
                tb.images("samples", save_sample_grid(G_show, grid_z, grid_y, path), done)
                shown = generator_attention_figure(G_show, grid_z, grid_y)
                if shown is not None:
                    tb.figure(f"attention/g.{shown[1]}", shown[0], done)
            if periodic_eval is not None and (done % cfg.eval_every == 0 or done == cfg.steps):
                metrics = periodic_eval(ema.standing_stats(cfg.seed) if ema else G, done)
                log.stats(metrics)
                tb.scalars(metrics, done)
                log.info(
                    " ".join(
                        f"{k[7:]} {v:.4g}" for k, v in metrics.items() if k.startswith("metric/")
                    )
                )
                plot_run_curves(run_dir)
            if done % cfg.ckpt_every == 0 or done == cfg.steps:
                checkpoint(done)
            bar.update(1)
            step = done
    except KeyboardInterrupt:
        bar.close()
        checkpoint(step)
        log.info(f"interrupted: saved step {step}; continue with: sagan train --resume {run_dir}")
        log.close()
        tb.close()
        raise TrainingInterrupted(
            f"interrupted at step {step}, checkpoint saved; resume with --resume {run_dir}"
        ) from None
    bar.close()
    if skipped:
        log.info(f"warning: {skipped} unreadable images were skipped during training")

    # Summarise the run.
    summary: dict[str, Any] = {
        "steps": step,
        "wall_time_s": round(time.time() - t_run, 2),
        "final": row,
        "checkpoint": str(checkpoint_path(run_dir, step)),
        "samples": str(run_dir / "samples" / f"step-{step:08d}.png"),
        "g_params": sum(p.numel() for p in G.parameters() if p.requires_grad),
        "d_params": sum(p.numel() for p in D.parameters() if p.requires_grad),
        "skipped_images": skipped,
    }
    if cfg.data == "digits" and conditional:
        from sagan.metrics.digits_eval import evaluate_digits

        log.info("evaluating on the held-out digits ...")
        metrics = evaluate_digits(ema.standing_stats(cfg.seed) if ema else G, seed=cfg.seed)
        summary.update(metrics)
        log.info(
            f"class_accuracy {metrics['class_accuracy']:.3f}  digits_fid {metrics['digits_fid']:.3f}"
            f"  (real held-out floor {metrics['digits_fid_real']:.3f})"
        )
    with open(run_dir / "summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    log.info(f"done: {run_dir}")
    log.close()
    tb.close()
    return run_dir
