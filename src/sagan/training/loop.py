"""The training loop: one function that reads straight through in labelled sections."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Dataset
from tqdm import tqdm

from sagan.config import TrainConfig
from sagan.data import load_dataset
from sagan.data.subset import StratifiedSubset
from sagan.errors import SaganError, TrainingInterrupted
from sagan.models import Discriminator, Generator
from sagan.training.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    save_checkpoint,
)
from sagan.training.console import torch_notices_to
from sagan.training.data_stream import data_stream
from sagan.training.distributed import (
    World,
    any_rank,
    barrier,
    broadcast_buffers,
    init_world,
    rank_device,
    sync_batch_norm,
    wrap_ddp,
)
from sagan.training.ema import EMA
from sagan.training.fast_path import (
    Compiled,
    adam,
    prepare,
    resolve_speed,
    set_backend_flags,
    to_memory_format,
)
from sagan.training.guard import Diverged, DivergenceGuard
from sagan.training.limited_data import LimitedData
from sagan.training.periodic_eval import PeriodicEval
from sagan.training.report import report_metrics, show_samples, write_summary
from sagan.training.run_dir import NullLog, RunLog, StopRequest, open_run
from sagan.training.state import (
    attention_gammas,
    draw_latents,
    resolve_device,
    restore_state,
    training_state,
)
from sagan.training.steps import d_step, g_step
from sagan.training.tensorboard import TensorBoardLog
from sagan.viz.grid import fixed_grid_latents


class _StopAtStepEnd(Exception):
    """A stop was requested and the current step has completed."""


def train(
    cfg: TrainConfig,
    resume: str | Path | None = None,
    dataset: Dataset | None = None,
    quiet: bool = False,
) -> Path:
    """Train a SAGAN as ``cfg`` says and return its run folder.

    With ``resume``, continue the run in that folder from its newest checkpoint; on CPU
    the result is bit-identical to a run that was never interrupted. Under torchrun each
    process trains on its share of the global batch (see ``sagan.training.distributed``).
    """
    world, own_group = init_world(cfg.device)
    try:
        with ExitStack() as cleanup:
            return _train(cfg, world, resume, dataset, quiet, cleanup)
    finally:
        if own_group:
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig,
    world: World,
    resume: str | Path | None,
    dataset: Dataset | None,
    quiet: bool,
    cleanup: ExitStack,
) -> Path:
    # Set up the run folder and the log (rank 0 writes; the other ranks stay silent).
    device = rank_device(resolve_device(cfg.device), world)
    local_batch = world.local_batch(cfg.batch)
    # The fast path's switches, resolved for this device (see sagan.training.fast_path).
    speed = resolve_speed(
        cfg.precision,
        cfg.compile,
        cfg.channels_last,
        cfg.reference,
        device,
        cfg.fused_resampling,
        cfg.model,
    )
    run_dir = open_run(cfg, world, resume, speed.resolved())
    log = RunLog(run_dir, quiet=quiet) if world.is_main else NullLog()
    cleanup.enter_context(torch_notices_to(log.record))  # torch's own notices: log.txt only
    tb = TensorBoardLog(run_dir, cfg.tensorboard and world.is_main)
    log.info(f"precision {speed.precision} ({speed.why}); {speed.describe()}")
    log.info(f"run folder: {run_dir}")
    if cfg.departures():
        listed = ", ".join(f"{k} {v}" for k, v in cfg.departures().items())
        log.info(f"departs from the official recipe: {listed} (--official restores it)")

    # Load the training data.
    if dataset is None:
        dataset = load_dataset(
            cfg.data, cfg.model.resolution, log.info if world.is_main else lambda _: None
        )
    else:
        for msg in getattr(dataset, "messages", []):
            log.record(msg)
    if cfg.data_fraction < 1.0:
        dataset = StratifiedSubset(dataset, cfg.data_fraction, cfg.seed)
        log.info(f"training on {cfg.data_fraction:g} of each class: {len(dataset):,} images")
    if cfg.model.num_classes not in (0, dataset.num_classes):
        raise SaganError(
            f"the model has {cfg.model.num_classes} classes but the data has {dataset.num_classes}"
        )
    conditional = cfg.model.num_classes > 0

    # Build the networks, optimizers and EMA (every rank from the same seed).
    set_backend_flags(device, speed)
    torch.manual_seed(cfg.seed)
    G = Generator(cfg.model).to(device)
    D = Discriminator(cfg.model).to(device)
    prepare(G, speed)
    prepare(D, speed)
    betas = (cfg.beta1, cfg.beta2)
    opt_g = adam(G.parameters(), cfg.lr_g, betas, device, speed)
    opt_d = adam(D.parameters(), cfg.lr_d, betas, device, speed)
    ema = EMA(G, cfg.ema_decay) if cfg.ema else None
    extras = LimitedData.from_config(cfg, device, world)  # None: the official recipe
    if cfg.sync_bn and world.distributed:
        sync_batch_norm(G, device)
    G_ddp, D_ddp = wrap_ddp(G, world, device), wrap_ddp(D, world, device)
    fast = Compiled(speed)  # the steps train through these; checkpoints save G and D
    noise = torch.Generator().manual_seed(cfg.seed + 1)
    start, data_pos = 0, 0

    def load_newest() -> tuple[Path, int, int]:
        found = latest_checkpoint(run_dir, warn=log.info)
        if found is None:
            raise SaganError(f"no readable checkpoint in '{run_dir}/checkpoints': cannot resume")
        path, ckpt = found
        step = restore_state(ckpt, G, D, opt_g, opt_d, ema, noise, extras)
        return path, step, int(ckpt.get("data_pos", step * cfg.n_dis * cfg.batch))

    # Resume from the newest complete checkpoint (any number of ranks may resume it).
    if resume is not None:
        path, start, data_pos = load_newest()
        log.info(f"resumed from {path.name} at step {start}")
    if start >= cfg.steps:
        log.info(f"already at step {start} of {cfg.steps}; pass a larger --steps to go on")

    def latents() -> tuple[torch.Tensor, torch.Tensor | None]:
        z, y = draw_latents(cfg.model, cfg.batch, noise, device)  # the global batch's
        return world.shard(z), world.shard(y)

    batches = data_stream(dataset, cfg, world, local_batch, device, data_pos)
    grid_z, grid_y = fixed_grid_latents(cfg.model, cfg.seed)
    periodic_eval = PeriodicEval(cfg, device, world) if cfg.eval_every else None
    guard = DivergenceGuard(cfg.grad_limit, lambda bad: any_rank(bad, world, device))
    skipped, failures = torch.zeros((), dtype=torch.long), 0
    log.info(
        f"G {sum(p.numel() for p in G.parameters()):,} params, D "
        f"{sum(p.numel() for p in D.parameters()):,} params, {len(dataset):,} images, "
        f"{dataset.num_classes} classes, device {device} ({speed.describe()})"
        + (f", {world.size} processes of batch {local_batch}" if world.distributed else "")
    )

    def checkpoint(step: int) -> None:
        if not world.is_main:
            return
        if ema is not None:
            ema.standing_stats(cfg.seed)  # saved G_ema samples well on its own
        state = training_state(step, cfg, G, D, opt_g, opt_d, ema, noise, extras)
        state["data_pos"] = data_pos
        state["class_names"] = [str(c) for c in dataset.classes]
        save_checkpoint(checkpoint_path(run_dir, step), state)
        prune_checkpoints(run_dir, cfg.keep_ckpts)

    if resume is None:
        checkpoint(0)  # a divergence before the first periodic checkpoint rolls back here

    # Main loop (Ctrl-C or SIGTERM ends it at the end of a step, with a final checkpoint).
    stop = StopRequest()
    bar = tqdm(
        total=cfg.steps, initial=start, desc="train", unit="step", dynamic_ncols=True, disable=quiet
    )
    t_run, t_last, step = time.time(), time.time(), start
    row: dict[str, Any] = {}
    try:
        stop.install()
        while step < cfg.steps:
            done = step + 1
            guard.step = done
            try:
                # D phase.
                for _ in range(cfg.n_dis):
                    real, y_real, n_bad = next(batches)
                    data_pos += cfg.batch
                    skipped += n_bad.sum()  # a CPU tensor: read only when logging
                    x_real = real.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
                    x_real = to_memory_format(x_real, speed)
                    y_real = y_real.to(device, non_blocking=True) if conditional else None
                    losses = d_step(
                        fast(G),
                        fast(D_ddp),
                        opt_d,
                        x_real,
                        y_real,
                        *latents(),
                        guard,
                        autocast_dtype=speed.autocast_dtype,
                        extras=extras,
                    )

                # G phase.
                losses["g_loss"] = g_step(
                    fast(G_ddp), fast(D), opt_g, *latents(), guard, speed.autocast_dtype, extras
                )

                # Update G_ema.
                if ema is not None:
                    ema.update(G)

                # Read the device back only where the host needs it (see training.guard).
                stopping = stop.requested and not world.distributed
                reads = stopping or _reads_back(cfg, done)
                if reads:
                    guard.read()
                    stopping = stopping or any_rank(stop.requested, world, device)
            except Diverged as e:
                # Roll back to the last good checkpoint; data and noise move on.
                failures += 1
                if failures > cfg.max_rollbacks:
                    raise SaganError(
                        f"training diverged {failures} times in a row at step {e.step} "
                        f"({e}); stopping. Lower --lr-d/--lr-g or resume from an earlier "
                        f"checkpoint in {run_dir}/checkpoints"
                    ) from None
                barrier(world)
                guard.discard()
                noise_state = noise.get_state()
                aug_state = extras.gen.get_state() if extras is not None else None
                path, step, _ = load_newest()
                noise.set_state(noise_state)
                if extras is not None:
                    extras.gen.set_state(aug_state)
                bar.n = step
                bar.refresh()
                log.info(
                    f"warning: {e} at step {e.step}; rolled back to {path.name} "
                    f"(rollback {failures} of at most {cfg.max_rollbacks} in a row)"
                )
                log.stats({"step": step, "rollback": failures, "reason": str(e)})
                continue

            # Log, sample and checkpoint.
            if done % cfg.log_every == 0 or done == cfg.steps:
                now = time.time()
                sec = (now - t_last) / (cfg.log_every if done % cfg.log_every == 0 else 1)
                t_last = now
                row = {
                    "step": done,
                    **{k: v.item() for k, v in losses.items()},
                    **({k: v.item() for k, v in extras.stats().items()} if extras else {}),
                    **{f"gamma/{k}": v for k, v in attention_gammas(G, D).items()},
                    "sec_per_step": sec,
                    "images_per_sec": cfg.batch * cfg.n_dis / max(sec, 1e-9),
                    "skipped_images": int(skipped),
                }
                log.stats(row)
                tb.scalars(row, done)
                bar.set_postfix(d=f"{row['d_loss']:.3f}", g=f"{row['g_loss']:.3f}")
            if world.is_main and (done % cfg.sample_every == 0 or done == cfg.steps):
                show_samples(
                    ema.standing_stats(cfg.seed) if ema else G, grid_z, grid_y, run_dir, tb, done
                )
            if periodic_eval is not None and (done % cfg.eval_every == 0 or done == cfg.steps):
                broadcast_buffers(G, world)  # one set of BN statistics to sample with
                metrics = periodic_eval(ema.standing_stats(cfg.seed) if ema else G, done)
                if metrics is not None:  # rank 0 gathers the samples and scores them
                    report_metrics(metrics, run_dir, log, tb, done)
            if done % cfg.ckpt_every == 0 or done == cfg.steps:
                checkpoint(done)
                failures = 0
            bar.update(1)
            step = done
            if stopping:
                raise _StopAtStepEnd
    except SaganError:
        bar.close()  # the error line then starts on a line of its own
        raise
    except OSError as e:  # a full disk or a read-only folder while writing logs or samples
        bar.close()
        raise SaganError(
            f"cannot write to the run folder '{run_dir}' ({e.strerror or e}); its newest "
            f"checkpoint is intact: free space or fix the folder, then --resume {run_dir}"
        ) from None
    except _StopAtStepEnd:
        bar.close()
        checkpoint(step)
        log.info(f"interrupted: saved step {step}; continue with: sagan train --resume {run_dir}")
        log.close()
        tb.close()
        raise TrainingInterrupted(
            f"interrupted at step {step}, checkpoint saved; resume with --resume {run_dir}"
        ) from None
    except KeyboardInterrupt:  # a second Ctrl-C: the step in flight is not saved
        bar.close()
        newest = list_checkpoints(run_dir)
        where = f"the newest checkpoint is {newest[-1].name}" if newest else "no checkpoint yet"
        log.close()
        tb.close()
        raise TrainingInterrupted(
            f"stopped at once during step {step + 1}; {where}; resume with --resume {run_dir}"
        ) from None
    finally:
        stop.restore()
    bar.close()
    if not world.is_main:
        return run_dir
    if skipped:
        log.info(f"warning: {int(skipped)} unreadable images were skipped during training")

    # Summarise the run.
    write_summary(
        cfg,
        run_dir,
        lambda: ema.standing_stats(cfg.seed) if ema else G,
        G,
        D,
        log,
        {
            "steps": step,
            "wall_time_s": round(time.time() - t_run, 2),
            "final": row,
            "skipped_images": int(skipped),
        },
    )
    log.info(f"done: {run_dir}")
    log.close()
    tb.close()
    return run_dir


def _reads_back(cfg: TrainConfig, done: int) -> bool:
    """Whether step ``done`` logs, samples, evaluates or checkpoints: then the divergence
    guard's verdicts are read first, so nothing bad is ever logged as good or saved."""
    every = [cfg.log_every, cfg.sample_every, cfg.ckpt_every]
    every += [cfg.eval_every] if cfg.eval_every else []
    return done == cfg.steps or any(done % k == 0 for k in every)
