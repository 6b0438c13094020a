"""The training loop: a Trainer (sagan.training.trainer) stepped until done, stopped
or diverged."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import torch.distributed as dist
from torch.utils.data import Dataset
from tqdm import tqdm

from sagan.config import TrainConfig
from sagan.errors import SaganError, TrainingInterrupted
from sagan.training.checkpoint import list_checkpoints
from sagan.training.data_stream import data_stream
from sagan.training.distributed import World, any_rank, init_world
from sagan.training.guard import Diverged
from sagan.training.run_dir import StopRequest
from sagan.training.trainer import Trainer


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
    trainer = Trainer.open(cfg, world, resume, dataset, quiet, cleanup)
    bar = tqdm(
        total=cfg.steps,
        initial=trainer.step,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        disable=quiet,
    )
    _steps_until_done(trainer, bar)
    bar.close()
    if world.is_main:
        trainer.finish()
    return trainer.run_dir


def _steps_until_done(trainer: Trainer, bar: tqdm) -> None:
    """Train up to ``cfg.steps``. Ctrl-C or SIGTERM ends it at the end of a step, with a
    final checkpoint; a second Ctrl-C at once. Either way a TrainingInterrupted says how
    to resume; a full or read-only run folder is a SaganError."""
    stop = StopRequest()
    run_dir = trainer.run_dir
    try:
        stop.install()
        _main_loop(trainer, bar, stop)
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
        step = trainer.step
        trainer.checkpoint(step)
        trainer.log.info(
            f"interrupted: saved step {step}; continue with: sagan train --resume {run_dir}"
        )
        trainer.close()
        raise TrainingInterrupted(
            f"interrupted at step {step}, checkpoint saved; resume with --resume {run_dir}"
        ) from None
    except KeyboardInterrupt:  # a second Ctrl-C: the step in flight is not saved
        bar.close()
        newest = list_checkpoints(run_dir)
        where = f"the newest checkpoint is {newest[-1].name}" if newest else "no checkpoint yet"
        trainer.close()
        raise TrainingInterrupted(
            f"stopped at once during step {trainer.step + 1}; {where}; resume with "
            f"--resume {run_dir}"
        ) from None
    finally:
        stop.restore()


def _main_loop(trainer: Trainer, bar: tqdm, stop: StopRequest) -> None:
    """Iterate, read the device back where the host needs it, roll back on a divergence,
    then log, sample, evaluate and checkpoint as the config says."""
    cfg, world = trainer.cfg, trainer.world
    batches = data_stream(
        trainer.dataset, cfg, world, trainer.local_batch, trainer.device, trainer.data_pos
    )
    trainer.started = trainer.last_log = time.time()
    while trainer.step < cfg.steps:
        done = trainer.step + 1
        try:
            losses = trainer.iteration(batches, done)
            # Read the device back only where the host needs it (see training.guard).
            stopping = stop.requested and not world.distributed
            if stopping or _reads_back(cfg, done):
                trainer.guard.read()
                stopping = stopping or any_rank(stop.requested, world, trainer.device)
        except Diverged as e:
            trainer.roll_back(e)
            bar.n = trainer.step
            bar.refresh()
            continue
        if done % cfg.log_every == 0 or done == cfg.steps:
            row = trainer.log_row(done, losses)
            bar.set_postfix(d=f"{row['d_loss']:.3f}", g=f"{row['g_loss']:.3f}")
        trainer.periodic(done)
        bar.update(1)
        trainer.step = done
        if stopping:
            raise _StopAtStepEnd


def _reads_back(cfg: TrainConfig, done: int) -> bool:
    """Whether step ``done`` logs, samples, evaluates or checkpoints: then the divergence
    guard's verdicts are read first, so nothing bad is ever logged as good or saved."""
    every = [cfg.log_every, cfg.sample_every, cfg.ckpt_every]
    every += [cfg.eval_every] if cfg.eval_every else []
    return done == cfg.steps or any(done % k == 0 for k in every)
