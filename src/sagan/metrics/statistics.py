"""Streaming feature statistics: mean and covariance accumulated in float64.

Memory stays at one D x D matrix per accumulator, whatever the number of samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class RunningStats:
    """Accumulates n, sum(x) and sum(x x^T) in float64; gives mean and covariance."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.n = 0
        self.sum = np.zeros(dim, np.float64)
        self.sum_outer = np.zeros((dim, dim), np.float64)

    def update(self, features: torch.Tensor | np.ndarray) -> None:
        """Add a batch of features [N, D]."""
        if isinstance(features, torch.Tensor):
            x = features.detach().to("cpu", torch.float64).numpy()
        else:
            x = np.asarray(features, np.float64)
        assert x.ndim == 2 and x.shape[1] == self.dim, x.shape
        self.n += x.shape[0]
        self.sum += x.sum(axis=0)
        self.sum_outer += x.T @ x

    @property
    def mean(self) -> np.ndarray:
        """mu = sum(x) / n."""
        return self.sum / self.n

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance: (sum(x x^T) - n mu mu^T) / (n - 1), as numpy.cov."""
        mu = self.mean
        return (self.sum_outer - self.n * np.outer(mu, mu)) / (self.n - 1)

    def save(self, path: Path) -> None:
        """Write mean, covariance and count as .npz (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, mu=self.mean, sigma=self.cov, n=self.n)
        tmp.replace(path)


def load_stats(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Read (mu, sigma, n) written by RunningStats.save."""
    with np.load(path) as f:
        return f["mu"], f["sigma"], int(f["n"])
