"""Kernel Inception Distance (Binkowski et al. 2018), computed as torch-fidelity does."""

from __future__ import annotations

import numpy as np

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 2020  # torch-fidelity's default rng_seed


def polynomial_kernel(
    x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0
) -> np.ndarray:
    """k(x, y) = (x . y / d + coef0) ** degree, the standard KID kernel."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """MMD^2_u = sum_{i!=j} k_xx / (m(m-1)) + sum_{i!=j} k_yy / (m(m-1)) - 2 sum k_xy / m^2."""
    m = k_xx.shape[0]
    t_xx = k_xx.sum() - np.trace(k_xx)
    t_yy = k_yy.sum() - np.trace(k_yy)
    return float((t_xx + t_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    f1: np.ndarray,
    f2: np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = KID_SEED,
) -> tuple[float, float]:
    """KID: mean and std of MMD^2_u over random subsets drawn without replacement.

    The subset size shrinks to the smaller set's size when that has fewer samples.
    """
    size = min(subset_size, len(f1), len(f2))
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        a = f1[rng.choice(len(f1), size, replace=False)]
        b = f2[rng.choice(len(f2), size, replace=False)]
        mmds[i] = mmd2_unbiased(
            polynomial_kernel(a, a), polynomial_kernel(a, b), polynomial_kernel(b, b)
        )
    return float(mmds.mean()), float(mmds.std())
