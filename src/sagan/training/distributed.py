"""Data-parallel training through torchrun: process group, rank slices, synchronised BN.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; ``sagan train`` then runs one process per
device with no other change. ``--batch`` is the global batch: rank r trains on its
share of every global batch of data and noise, so a run's streams do not depend on the
number of ranks, and a run can resume on another number of ranks.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from sagan.errors import SaganError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the run folder: logs, samples, checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process."""
        return self.size > 1

    def local_batch(self, batch: int) -> int:
        """This rank's share of the global ``batch``; it must split evenly."""
        if batch % self.size:
            raise SaganError(
                f"--batch {batch} is the global batch and must split evenly over "
                f"{self.size} processes: pass a multiple of {self.size}"
            )
        return batch // self.size

    def shard(self, x: torch.Tensor | None) -> torch.Tensor | None:
        """Rank r's contiguous slice of a tensor drawn for the global batch."""
        if x is None or self.size == 1:
            return x
        n = x.shape[0] // self.size
        return x[self.rank * n : (self.rank + 1) * n]


def init_world(device_name: str) -> tuple[World, bool]:
    """Join the process group torchrun describes (if any); return the world and whether
    this call created the group (and so must destroy it)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), False
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    created = False
    if not dist.is_initialized():
        use_cuda = device_name != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        created = True
    return World(rank, size, local), created


def rank_device(device: torch.device, world: World) -> torch.device:
    """Each process on a node takes the GPU of its local rank."""
    if device.type == "cuda" and world.distributed:
        return torch.device("cuda", world.local_rank)
    return device


def any_rank(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one."""
    if not world.distributed:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_buffers(module: nn.Module, world: World) -> None:
    """Copy rank 0's buffers (BN running statistics, SN vectors) to every rank."""
    if world.distributed:
        for b in module.buffers():
            dist.broadcast(b, 0)


def barrier(world: World) -> None:
    """Wait for all ranks (a no-op for one process)."""
    if world.distributed:
        dist.barrier()


class _SumOverRanks(torch.autograd.Function):
    """y = sum_r x_r on every rank; the gradient of each x_r is sum_r dL_r/dy."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        g = grad.clone()
        dist.all_reduce(g)
        return g


def sum_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """Differentiable all-reduce (sum) of ``x`` over the process group."""
    return _SumOverRanks.apply(x)


class CrossRankBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the global batch of all ranks.

    mu = sum_r sum_i x_ri / N,  var = sum_r sum_i (x_ri - mu)^2 / N  (N: global count).
    The sums travel through a differentiable all-reduce, so gradients flow across ranks
    exactly as in one process with the whole batch. torch's SyncBatchNorm does this on
    GPUs only; this module serves CPU (gloo) runs. Outside training, or with one process,
    it is an ordinary BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = (0, 2, 3)
        count = sum_over_ranks(x.new_tensor(float(x.numel() // x.shape[1])))
        mean = sum_over_ranks(x.sum(dims)) / count
        centred = x - mean[None, :, None, None]
        var = sum_over_ranks(centred.square().sum(dims)) / count
        with torch.no_grad():
            m = self.momentum if self.momentum is not None else 0.1
            self.running_mean.lerp_(mean.detach(), m)
            self.running_var.lerp_(var.detach() * count / (count - 1), m)
            self.num_batches_tracked.add_(1)
        x_hat = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            x_hat = x_hat * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return x_hat


def sync_batch_norm(module: nn.Module, device: torch.device) -> nn.Module:
    """Make every BatchNorm in ``module`` use global-batch statistics (the SyncBN option).

    On CUDA this is torch's SyncBatchNorm; on CPU, CrossRankBatchNorm2d.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            new = CrossRankBatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine
            ).to(device)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            sync_batch_norm(child, device)
    return module


def wrap_ddp(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``module`` when there are several ranks.

    Gradients are averaged over ranks; with equal shares of the global batch this equals
    one process's gradient of the mean loss over the whole batch.
    """
    if not world.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # Buffers are not synced in forward: BN statistics stay per process (the official
    # code's per-GPU BN) and SN vectors are equal on all ranks by construction.
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
        return DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False)
    return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)
