"""Inception Score (Salimans et al. 2016), computed as torch-fidelity does."""

from __future__ import annotations

import numpy as np
import torch

IS_SPLITS = 10
SHUFFLE_SEED = 2020  # torch-fidelity's default rng_seed


def inception_score(
    logits: torch.Tensor, splits: int = IS_SPLITS, shuffle_seed: int | None = SHUFFLE_SEED
) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), the mean and std over ``splits`` chunks.

    p(y|x) = softmax(logits) in float64 and p(y) is the mean of p(y|x) over the chunk.
    The samples are permuted with RandomState(shuffle_seed) first (None keeps the order),
    so chunks never follow the class order in which samples were generated.
    """
    x = logits.detach().cpu()
    if shuffle_seed is not None:
        x = x[np.random.RandomState(shuffle_seed).permutation(len(x))]
    x = x.double()
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    n, scores = len(x), []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        q = p[lo:hi].mean(dim=0, keepdim=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - q.log())).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))
