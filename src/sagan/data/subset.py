"""A stratified share of a dataset: the same fraction of every class, chosen by a seed."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from sagan.errors import SaganError


def stratified_indices(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of round(fraction * n_c) images of each class c (at least one), sorted.

    The images of a class are taken in the order of a permutation seeded by ``seed``, so a
    smaller fraction is a subset of a larger one.
    """
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=gen)
    keep = []
    for c in labels.unique().tolist():
        members = order[labels[order] == c]
        keep.append(members[: max(1, round(fraction * len(members)))])
    return torch.cat(keep).sort().values


class StratifiedSubset(Dataset):
    """``fraction`` of each class of ``dataset``; keeps its classes and class count."""

    def __init__(self, dataset: Dataset, fraction: float, seed: int) -> None:
        labels = getattr(dataset, "labels", None)
        if labels is None:
            raise SaganError("--data-fraction needs a dataset with labels")
        self.dataset = dataset
        self.indices = stratified_indices(torch.as_tensor(labels), fraction, seed)
        self.labels = torch.as_tensor(labels)[self.indices]
        self.classes = dataset.classes
        self.num_classes = dataset.num_classes
        self.messages = list(getattr(dataset, "messages", []))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.dataset[int(self.indices[i])]
