"""One training run's parts (run folder, data, networks, optimizers, EMA, limited-data
state, noise) and what the loop does with them: a training iteration, a rollback, a log
row, the periodic samples, evaluations and checkpoints, and the summary.

``sagan.training.loop`` drives a Trainer step by step; this module holds no loop.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from sagan.config import TrainConfig
from sagan.data import load_dataset
from sagan.data.subset import StratifiedSubset
from sagan.errors import SaganError
from sagan.models import Discriminator, Generator
from sagan.training.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from sagan.training.console import torch_notices_to
from sagan.training.distributed import (
    World,
    any_rank,
    barrier,
    broadcast_buffers,
    rank_device,
    sync_batch_norm,
    wrap_ddp,
)
from sagan.training.ema import EMA
from sagan.training.fast_path import (
    Compiled,
    Speed,
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
from sagan.training.run_dir import NullLog, RunLog, open_run
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


@dataclass
class Trainer:
    """Everything one run trains with, and the step it has reached.

    Build it with :meth:`open`; ``step`` is the last completed G update, ``data_pos`` the
    number of images drawn (both saved in checkpoints), ``failures`` the rollbacks in a
    row since the last checkpoint.
    """

    cfg: TrainConfig
    world: World
    device: torch.device
    speed: Speed
    run_dir: Path
    log: RunLog
    tb: TensorBoardLog
    dataset: Dataset
    G: Generator
    D: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: EMA | None
    extras: LimitedData | None  # None: the official recipe
    G_ddp: nn.Module
    D_ddp: nn.Module
    fast: Compiled  # the steps train through these; checkpoints save G and D
    noise: torch.Generator
    step: int = 0
    data_pos: int = 0
    failures: int = 0
    skipped: torch.Tensor = field(default_factory=lambda: torch.zeros((), dtype=torch.long))
    row: dict[str, Any] = field(default_factory=dict)
    grid: tuple[torch.Tensor, torch.Tensor | None] | None = None
    periodic_eval: PeriodicEval | None = None
    guard: DivergenceGuard | None = None
    started: float = field(default_factory=time.time)
    last_log: float = field(default_factory=time.time)

    @classmethod
    def open(
        cls,
        cfg: TrainConfig,
        world: World,
        resume: str | Path | None,
        dataset: Dataset | None,
        quiet: bool,
        cleanup: ExitStack,
    ) -> Trainer:
        """Open the run folder and its log, load the data, build the networks (every rank
        from the same seed) and, with ``resume``, restore the newest checkpoint."""
        device = rank_device(resolve_device(cfg.device), world)
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
        cleanup.enter_context(torch_notices_to(log.record))  # torch's own notices: log.txt
        tb = TensorBoardLog(run_dir, cfg.tensorboard and world.is_main)
        log.info(f"precision {speed.precision} ({speed.why}); {speed.describe()}")
        log.info(f"run folder: {run_dir}")
        if cfg.departures():
            listed = ", ".join(f"{k} {v}" for k, v in cfg.departures().items())
            log.info(f"departs from the official recipe: {listed} (--official restores it)")
        dataset = _training_data(cfg, dataset, log, world)

        t = cls(
            cfg, world, device, speed, run_dir, log, tb, dataset,
            *_networks(cfg, world, device, speed),
            Compiled(speed), torch.Generator().manual_seed(cfg.seed + 1),
        )  # fmt: skip

        # Resume from the newest complete checkpoint (any number of ranks may resume it).
        if resume is not None:
            path = t.load_newest()
            log.info(f"resumed from {path.name} at step {t.step}")
        if t.step >= cfg.steps:
            log.info(f"already at step {t.step} of {cfg.steps}; pass a larger --steps to go on")
        t.grid = fixed_grid_latents(cfg.model, cfg.seed)
        t.periodic_eval = PeriodicEval(cfg, device, world) if cfg.eval_every else None
        t.guard = DivergenceGuard(cfg.grad_limit, lambda bad: any_rank(bad, world, device))
        log.info(
            f"G {sum(p.numel() for p in t.G.parameters()):,} params, D "
            f"{sum(p.numel() for p in t.D.parameters()):,} params, {len(dataset):,} images, "
            f"{dataset.num_classes} classes, device {device} ({speed.describe()})"
            + (f", {world.size} processes of batch {t.local_batch}" if world.distributed else "")
        )
        if resume is None:
            t.checkpoint(0)  # a divergence before the first periodic checkpoint rolls back here
        return t

    @property
    def local_batch(self) -> int:
        """This process's share of the global batch."""
        return self.world.local_batch(self.cfg.batch)

    def load_newest(self) -> Path:
        """Restore the newest readable checkpoint into the networks, optimizers, EMA,
        noise and limited-data state; set ``step`` and ``data_pos`` from it."""
        found = latest_checkpoint(self.run_dir, warn=self.log.info)
        if found is None:
            raise SaganError(
                f"no readable checkpoint in '{self.run_dir}/checkpoints': cannot resume"
            )
        path, ckpt = found
        self.step = restore_state(
            ckpt, self.G, self.D, self.opt_g, self.opt_d, self.ema, self.noise, self.extras
        )
        fallback = self.step * self.cfg.n_dis * self.cfg.batch
        self.data_pos = int(ckpt.get("data_pos", fallback))
        return path

    def checkpoint(self, step: int) -> None:
        """Save the state after ``step`` (rank 0) and prune the old checkpoints."""
        if not self.world.is_main:
            return
        cfg = self.cfg
        if self.ema is not None:
            self.ema.standing_stats(cfg.seed)  # saved G_ema samples well on its own
        state = training_state(
            step, cfg, self.G, self.D, self.opt_g, self.opt_d, self.ema, self.noise, self.extras
        )
        state["data_pos"] = self.data_pos
        state["class_names"] = [str(c) for c in self.dataset.classes]
        save_checkpoint(checkpoint_path(self.run_dir, step), state)
        prune_checkpoints(self.run_dir, cfg.keep_ckpts)

    def latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This process's share of a fresh global batch of z and classes."""
        z, y = draw_latents(self.cfg.model, self.cfg.batch, self.noise, self.device)
        return self.world.shard(z), self.world.shard(y)

    def sampler(self) -> nn.Module:
        """The generator that samples and metrics use: G_ema with its standing batch-norm
        statistics when there is one, else G."""
        return self.ema.standing_stats(self.cfg.seed) if self.ema else self.G

    def iteration(self, batches, done: int) -> dict[str, torch.Tensor]:
        """One training iteration: ``n_dis`` D steps, one G step, the EMA update. The losses
        stay on the device; a bad one raises Diverged when the guard is read."""
        cfg, speed, guard, fast = self.cfg, self.speed, self.guard, self.fast
        guard.step = done
        conditional = cfg.model.num_classes > 0
        for _ in range(cfg.n_dis):
            real, y_real, n_bad = next(batches)
            self.data_pos += cfg.batch
            self.skipped += n_bad.sum()  # a CPU tensor: read only when logging
            x_real = real.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
            x_real = to_memory_format(x_real, speed)
            y_real = y_real.to(self.device, non_blocking=True) if conditional else None
            losses = d_step(
                fast(self.G),
                fast(self.D_ddp),
                self.opt_d,
                x_real,
                y_real,
                *self.latents(),
                guard,
                autocast_dtype=speed.autocast_dtype,
                extras=self.extras,
            )
        losses["g_loss"] = g_step(
            fast(self.G_ddp),
            fast(self.D),
            self.opt_g,
            *self.latents(),
            guard,
            speed.autocast_dtype,
            self.extras,
        )
        if self.ema is not None:
            self.ema.update(self.G)
        return losses

    def roll_back(self, e: Diverged) -> None:
        """Go back to the last good checkpoint after a divergence; the data, the noise and
        the augmentations move on. Too many rollbacks in a row stop the run."""
        cfg = self.cfg
        self.failures += 1
        if self.failures > cfg.max_rollbacks:
            raise SaganError(
                f"training diverged {self.failures} times in a row at step {e.step} "
                f"({e}); stopping. Lower --lr-d/--lr-g or resume from an earlier "
                f"checkpoint in {self.run_dir}/checkpoints"
            ) from None
        barrier(self.world)
        self.guard.discard()
        noise_state = self.noise.get_state()
        aug_state = self.extras.gen.get_state() if self.extras is not None else None
        data_pos = self.data_pos
        path = self.load_newest()
        self.data_pos = data_pos
        self.noise.set_state(noise_state)
        if self.extras is not None:
            self.extras.gen.set_state(aug_state)
        self.log.info(
            f"warning: {e} at step {e.step}; rolled back to {path.name} "
            f"(rollback {self.failures} of at most {cfg.max_rollbacks} in a row)"
        )
        self.log.stats({"step": self.step, "rollback": self.failures, "reason": str(e)})

    def log_row(self, done: int, losses: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Read the losses back and write the stats row of step ``done``."""
        cfg = self.cfg
        now = time.time()
        sec = (now - self.last_log) / (cfg.log_every if done % cfg.log_every == 0 else 1)
        self.last_log = now
        extras = self.extras.stats() if self.extras else {}
        self.row = {
            "step": done,
            **{k: v.item() for k, v in losses.items()},
            **{k: v.item() for k, v in extras.items()},
            **{f"gamma/{k}": v for k, v in attention_gammas(self.G, self.D).items()},
            "sec_per_step": sec,
            "images_per_sec": cfg.batch * cfg.n_dis / max(sec, 1e-9),
            "skipped_images": int(self.skipped),
        }
        self.log.stats(self.row)
        self.tb.scalars(self.row, done)
        return self.row

    def periodic(self, done: int) -> None:
        """The sample grid, the evaluation and the checkpoint that fall on step ``done``."""
        cfg, last = self.cfg, done == self.cfg.steps
        if self.world.is_main and (done % cfg.sample_every == 0 or last):
            show_samples(self.sampler(), *self.grid, self.run_dir, self.tb, done)
        if self.periodic_eval is not None and (done % cfg.eval_every == 0 or last):
            broadcast_buffers(self.G, self.world)  # one set of BN statistics to sample with
            metrics = self.periodic_eval(self.sampler(), done)
            if metrics is not None:  # rank 0 gathers the samples and scores them
                report_metrics(metrics, self.run_dir, self.log, self.tb, done)
        if done % cfg.ckpt_every == 0 or last:
            self.checkpoint(done)
            self.failures = 0

    def finish(self) -> None:
        """Warn about skipped images and write summary.json (rank 0), then close the logs."""
        if self.skipped:
            self.log.info(
                f"warning: {int(self.skipped)} unreadable images were skipped during training"
            )
        write_summary(
            self.cfg,
            self.run_dir,
            self.sampler,
            self.G,
            self.D,
            self.log,
            {
                "steps": self.step,
                "wall_time_s": round(time.time() - self.started, 2),
                "final": self.row,
                "skipped_images": int(self.skipped),
            },
        )
        self.log.info(f"done: {self.run_dir}")
        self.close()

    def close(self) -> None:
        self.log.close()
        self.tb.close()


def _training_data(cfg: TrainConfig, dataset: Dataset | None, log: RunLog, world: World) -> Dataset:
    """The run's data: ``cfg.data`` loaded (or the dataset given, its loading messages
    logged), reduced to ``cfg.data_fraction`` of each class; its class count checked."""
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
    return dataset


def _networks(cfg: TrainConfig, world: World, device: torch.device, speed: Speed) -> tuple:
    """G, D, their Adam optimizers, the EMA of G, the limited-data state and the DDP
    wrappers of G and D, built on every rank from the same seed."""
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
    extras = LimitedData.from_config(cfg, device, world)
    if cfg.sync_bn and world.distributed:
        sync_batch_norm(G, device)
    return G, D, opt_g, opt_d, ema, extras, wrap_ddp(G, world, device), wrap_ddp(D, world, device)
