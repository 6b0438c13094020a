"""A resumable, endless stream of sample indices."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class InfiniteSampler(Sampler[int]):
    """Concatenated random permutations of range(n), starting at position ``start``.

    Permutation e is drawn from a generator seeded with (seed, e), so position p of the
    stream depends only on (seed, p): a resumed run reads exactly the batches an
    uninterrupted one would. With ``num_replicas`` > 1, rank r takes every
    num_replicas-th index, so ranks see disjoint data.
    """

    def __init__(
        self, n: int, seed: int, start: int = 0, rank: int = 0, num_replicas: int = 1
    ) -> None:
        self.n, self.seed, self.start = n, seed, start
        self.rank, self.num_replicas = rank, num_replicas

    def _perm(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g)

    def __iter__(self) -> Iterator[int]:
        pos = self.start * self.num_replicas + self.rank
        epoch, offset = divmod(pos, self.n)
        perm = self._perm(epoch)
        while True:
            yield int(perm[offset])
            offset += self.num_replicas
            while offset >= self.n:
                offset -= self.n
                epoch += 1
                perm = self._perm(epoch)
