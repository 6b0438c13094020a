"""The training data stream: batches from a global position, sharded over the ranks."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from sagan.config import TrainConfig
from sagan.data.sampler import InfiniteSampler
from sagan.training.distributed import World


def data_stream(
    dataset: Dataset,
    cfg: TrainConfig,
    world: World,
    local_batch: int,
    device: torch.device,
    pos: int,
):
    """Batches from global stream position ``pos`` on; rank r reads every world.size-th
    sample of the global stream."""
    sampler = InfiniteSampler(
        len(dataset), cfg.seed, start=pos // world.size, rank=world.rank, num_replicas=world.size
    )
    loader = DataLoader(
        dataset,
        batch_size=local_batch,
        sampler=sampler,
        drop_last=True,
        num_workers=cfg.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=cfg.workers > 0,
    )
    return iter(loader)
