"""One streaming pass over image batches: features in, statistics out.

The same pass serves real reference data and generated samples. Batches arrive sorted
by class, so at most one per-class accumulator is alive at a time and memory does not
grow with the number of classes or samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from sagan.metrics.statistics import RunningStats


@dataclass
class Needs:
    """What the requested metrics need from a pass."""

    per_class: bool = False
    logits: bool = False
    features: bool = False


@dataclass
class Accumulated:
    """The result of a pass: overall statistics and whatever else was needed."""

    stats: RunningStats
    labels: list[int] = field(default_factory=list)
    logits: torch.Tensor | None = None
    features: np.ndarray | None = None
    class_counts: dict[int, int] = field(default_factory=dict)


def accumulate(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]],
    extractor: nn.Module,
    needs: Needs,
    on_class_done: Callable[[int, RunningStats], None] | None = None,
    device: torch.device | str = "cpu",
    keep_feature: Callable[[int], bool] | None = None,
) -> Accumulated:
    """Run uint8 batches [B, 3, H, W] (with labels [B] or None) through the extractor.

    With ``needs.per_class``, labels must arrive sorted; ``on_class_done(c, stats)`` is
    called once per class when its last sample has been seen. ``keep_feature(i)`` picks
    which samples' features are kept for KID (all by default).
    """
    stats = RunningStats(extractor.dim)
    out = Accumulated(stats)
    logits, feats = [], []
    current: tuple[int, RunningStats] | None = None
    index = 0
    for images, labels in batches:
        pool, logit = extractor(images.to(device))
        pool = pool.float().cpu()
        stats.update(pool)
        if needs.logits:
            logits.append(logit.float().cpu())
        if needs.features:
            keep = [i for i in range(len(pool)) if keep_feature is None or keep_feature(index + i)]
            feats.append(pool[keep].numpy())
        index += len(pool)
        if labels is None:
            continue
        labels = labels.tolist()
        out.labels.extend(labels)
        for c in labels:
            out.class_counts[c] = out.class_counts.get(c, 0) + 1
        if needs.per_class:
            current = _per_class(pool, labels, current, on_class_done, extractor.dim)
    if current is not None and on_class_done is not None:
        on_class_done(*current)
    out.logits = torch.cat(logits) if logits else None
    out.features = np.concatenate(feats) if feats else None
    return out


def _per_class(
    pool: torch.Tensor,
    labels: list[int],
    current: tuple[int, RunningStats] | None,
    on_class_done: Callable[[int, RunningStats], None] | None,
    dim: int,
) -> tuple[int, RunningStats]:
    """Feed a batch into the per-class accumulators, closing each class as it ends."""
    start = 0
    while start < len(labels):
        c = labels[start]
        end = start
        while end < len(labels) and labels[end] == c:
            end += 1
        if current is None or current[0] != c:
            if current is not None and on_class_done is not None:
                if c < current[0]:
                    raise ValueError("per-class statistics need batches sorted by class")
                on_class_done(*current)
            current = (c, RunningStats(dim))
        current[1].update(pool[start:end])
        start = end
    return current
