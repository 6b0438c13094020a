"""Evaluation as in the paper: generate, extract features, compare with reference stats."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from sagan.errors import SaganError
from sagan.metrics.accumulate import Accumulated, Needs, accumulate
from sagan.metrics.digits import cache_dir
from sagan.metrics.fid import frechet_distance
from sagan.metrics.registry import METRICS, MetricContext, parse_metrics
from sagan.metrics.sources import dataset_batches, generator_batches
from sagan.metrics.statistics import RunningStats, load_stats

MAX_REFERENCE_FEATURES = 50_000  # KID's reference features: a seeded subset beyond this


def needs_for(names: list[str]) -> tuple[Needs, bool, bool, bool]:
    """Union of what the metrics need: fake-pass needs, and real / per-class / features."""
    fake = Needs()
    real = per_class = feats = False
    for n in names:
        m = METRICS[n]
        fake = Needs(
            fake.per_class or m.fake.per_class,
            fake.logits or m.fake.logits,
            fake.features or m.fake.features,
        )
        real, per_class, feats = (
            real or m.needs_real,
            per_class or m.per_class_real,
            feats or m.real_features,
        )
    return fake, real, per_class, feats


def reference_key(data_id: str, resolution: int, extractor: nn.Module) -> str:
    """Cache key of (dataset, resolution, extractor), readable and collision-safe."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(data_id).name or data_id).strip("-")[:40] or "data"
    h = hashlib.sha256(f"{data_id}|{resolution}|{extractor.weights_hash}".encode()).hexdigest()[:12]
    return f"{slug}-{resolution}px-{extractor.dim}d-{h}"


class Reference:
    """Reference statistics of a dataset, computed once and cached on disk by key."""

    def __init__(
        self,
        dataset: Dataset,
        data_id: str,
        resolution: int,
        extractor: nn.Module,
        batch: int,
        device: torch.device | str,
        root: Path | None = None,
        progress: bool = True,
    ) -> None:
        self.dataset, self.extractor, self.batch, self.device = dataset, extractor, batch, device
        self.key = reference_key(data_id, resolution, extractor)
        self.folder = Path(root or cache_dir() / "refstats") / self.key
        self.progress = progress

    def _path(self, name: str) -> Path:
        return self.folder / name

    def prepare(self, per_class: bool, features: bool) -> Accumulated | None:
        """Make sure the cache holds what is needed; return the pass when one was run."""
        have = self._path("all.npz").is_file()
        have = have and (not per_class or self._path("classes.done").is_file())
        have = have and (not features or self._path("features.npy").is_file())
        if have:
            return None
        rng = np.random.RandomState(0)
        n = len(self.dataset)
        keep = (
            set(rng.permutation(n)[:MAX_REFERENCE_FEATURES].tolist())
            if n > MAX_REFERENCE_FEATURES
            else None
        )
        acc = accumulate(
            dataset_batches(
                self.dataset, self.batch, sort_by_class=per_class, progress=self.progress
            ),
            self.extractor,
            Needs(per_class=per_class, features=features),
            on_class_done=lambda c, s: s.save(self._path(f"class-{c:05d}.npz")),
            device=self.device,
            keep_feature=None if keep is None else keep.__contains__,
        )
        acc.stats.save(self._path("all.npz"))
        if features:
            np.save(self._path("features.npy"), acc.features)
        if per_class:
            self._path("classes.done").write_text(str(len(acc.class_counts)))
        return acc

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        mu, sigma, _ = load_stats(self._path("all.npz"))
        return mu, sigma

    def class_stats(self, c: int) -> tuple[np.ndarray, np.ndarray] | None:
        path = self._path(f"class-{c:05d}.npz")
        if not path.is_file():
            return None
        mu, sigma, _ = load_stats(path)
        return mu, sigma

    def features(self) -> np.ndarray:
        return np.load(self._path("features.npy"))


def compute_metrics(
    names: list[str] | str,
    fake_batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]],
    extractor: nn.Module,
    reference: Reference | None,
    device: torch.device | str = "cpu",
    kid_subset_size: int = 1000,
) -> dict[str, Any]:
    """Stream the fake batches and compute the named metrics against ``reference``."""
    names = parse_metrics(names)
    fake_needs, real_needed, per_class, real_feats = needs_for(names)
    if real_needed and reference is None:
        raise SaganError(
            f"{','.join(n for n in names if METRICS[n].needs_real)} need reference data: pass --real"
        )
    real_acc = None
    if reference is not None and real_needed:
        real_acc = reference.prepare(per_class, real_feats)
    per_class_fid: dict[int, float] = {}

    def class_done(c: int, s: RunningStats) -> None:
        ref = reference.class_stats(c)
        if ref is None:
            raise SaganError(
                f"the reference data has no images of class {c}: intra-FID needs every class"
            )
        per_class_fid[c] = frechet_distance(s.mean, s.cov, *ref)

    fake = accumulate(
        fake_batches, extractor, fake_needs, class_done if per_class else None, device
    )
    if real_feats:
        real_acc = real_acc or Accumulated(RunningStats(extractor.dim))
        real_acc.features = reference.features()
    ctx = MetricContext(
        fake, real_acc, reference.stats() if real_needed else None, per_class_fid, kid_subset_size
    )
    results: dict[str, Any] = {}
    for n in names:
        results.update(METRICS[n].fn(ctx))
    results["num_samples"] = fake.stats.n
    return results


def evaluate_generator(
    G: nn.Module,
    names: list[str] | str,
    samples: int,
    reference: Reference | None,
    extractor: nn.Module,
    batch: int = 250,
    seed: int = 0,
    progress: bool = True,
    world_size: int = 1,
) -> dict[str, Any]:
    """Metrics of G's samples (classes uniform), with what is needed to reproduce them.

    With ``world_size`` > 1 this is rank 0's side of a sharded pass: the other ranks run
    ``generator_batches(..., rank, world_size)`` alongside and G's samples are gathered.
    """
    device = next(G.parameters()).device
    t0 = time.time()
    results = compute_metrics(
        names,
        generator_batches(G, samples, batch, seed, progress, 0, world_size),
        extractor,
        reference,
        device,
    )
    results.update(_provenance(extractor, reference, seed, t0))
    return results


def _provenance(
    extractor: nn.Module, reference: Reference | None, seed: int, t0: float
) -> dict[str, Any]:
    from sagan.metrics.inception_score import IS_SPLITS

    return {
        "extractor": extractor.name,
        "extractor_weights_sha256": extractor.weights_hash,
        "reference": None if reference is None else reference.key,
        "is_splits": IS_SPLITS,
        "seed": seed,
        "torch": torch.__version__,
        "seconds": round(time.time() - t0, 2),
    }
