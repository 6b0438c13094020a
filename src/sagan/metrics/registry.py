"""Metrics by name: each is a function of the fake and reference passes.

``@register_metric`` records what a metric needs from the passes, so evaluation does
only the work that the requested metrics use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sagan.errors import SaganError
from sagan.metrics.accumulate import Accumulated, Needs
from sagan.metrics.fid import frechet_distance
from sagan.metrics.inception_score import IS_SPLITS, inception_score
from sagan.metrics.kid import kernel_inception_distance


@dataclass
class MetricContext:
    """What metric functions read: both passes and the per-class FIDs."""

    fake: Accumulated
    real: Accumulated | None
    real_stats: tuple[np.ndarray, np.ndarray] | None
    per_class_fid: dict[int, float]
    kid_subset_size: int


@dataclass(frozen=True)
class Metric:
    """A registered metric and what it needs."""

    name: str
    fn: Callable[[MetricContext], dict[str, Any]]
    fake: Needs
    needs_real: bool
    per_class_real: bool = False
    real_features: bool = False


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str,
    fake: Needs | None = None,
    needs_real: bool = True,
    per_class_real: bool = False,
    real_features: bool = False,
) -> Callable:
    """Decorator: add a metric function to the registry under ``name``."""

    def wrap(fn: Callable[[MetricContext], dict[str, Any]]) -> Callable:
        METRICS[name] = Metric(name, fn, fake or Needs(), needs_real, per_class_real, real_features)
        return fn

    return wrap


def parse_metrics(text: str | list[str]) -> list[str]:
    """'is,fid' -> ['is', 'fid'], rejecting unknown names with the list of known ones."""
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise SaganError(
            f"unknown metric {unknown[0] if unknown else '(none)'!r}: choose from {','.join(METRICS)}"
        )
    return names


@register_metric("fid")
def fid(ctx: MetricContext) -> dict[str, Any]:
    """FID of all samples against the reference set."""
    return {"fid": frechet_distance(ctx.fake.stats.mean, ctx.fake.stats.cov, *ctx.real_stats)}


@register_metric("intra_fid", fake=Needs(per_class=True), per_class_real=True)
def intra_fid(ctx: MetricContext) -> dict[str, Any]:
    """intra-FID = mean over classes of FID(samples of class c, real images of class c)."""
    values = ctx.per_class_fid
    return {
        "intra_fid": float(np.mean(list(values.values()))),
        "intra_fid_per_class": {str(c): v for c, v in sorted(values.items())},
    }


@register_metric("is", fake=Needs(logits=True), needs_real=False)
def inception_score_metric(ctx: MetricContext) -> dict[str, Any]:
    """Inception Score over IS_SPLITS splits (the extractor's logits)."""
    mean, std = inception_score(ctx.fake.logits, IS_SPLITS)
    return {"is": mean, "is_std": std}


@register_metric("kid", fake=Needs(features=True), real_features=True)
def kid(ctx: MetricContext) -> dict[str, Any]:
    """KID with the cubic polynomial kernel over random subsets."""
    mean, std = kernel_inception_distance(
        ctx.fake.features, ctx.real.features, subset_size=ctx.kid_subset_size
    )
    return {"kid": mean, "kid_std": std}


@register_metric("class_accuracy", fake=Needs(logits=True), needs_real=False)
def class_accuracy(ctx: MetricContext) -> dict[str, Any]:
    """Share of samples that the extractor's classifier assigns to the class asked for."""
    logits = ctx.fake.logits
    if logits is None or not ctx.fake.labels or logits.shape[1] != len(ctx.fake.class_counts):
        raise SaganError("class_accuracy needs a class-conditional model and the digits extractor")
    pred = logits.argmax(dim=1).numpy()
    return {"class_accuracy": float((pred == np.asarray(ctx.fake.labels)).mean())}
