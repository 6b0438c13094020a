"""The digits yardstick of a generator: class_accuracy, digits_fid and its real floor,
within-class diversity and a copy check."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sagan.data.digits import DigitsDataset
from sagan.metrics.evaluate import Reference, compute_metrics
from sagan.metrics.features import DigitsExtractor
from sagan.metrics.sources import dataset_batches, generator_batches

PIXEL_RES = 16  # pixel measures (diversity, copy check) are taken on 16x16 grayscale


def digits_reference(resolution: int, extractor: DigitsExtractor) -> Reference:
    """Cached statistics of the real training digits at the model's resolution."""
    return Reference(
        DigitsDataset(resolution, "train"),
        "digits-train",
        resolution,
        extractor,
        500,
        "cpu",
        progress=False,
    )


def gray_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB [N, 3, R, R] -> grayscale pixels [N, 256] in [0, 1] at 16x16."""
    x = images.float().div(255.0).mean(dim=1, keepdim=True)
    if x.shape[-1] != PIXEL_RES:
        x = F.interpolate(x, size=(PIXEL_RES, PIXEL_RES), mode="bilinear", antialias=True)
    return x.flatten(1)


def mean_pairwise_distance(x: torch.Tensor) -> torch.Tensor:
    """E_{i != j} ||x_i - x_j||_2 over the rows of x [N, D]."""
    return torch.pdist(x).mean()


def within_class_diversity(
    images: torch.Tensor, labels: torch.Tensor, real: torch.Tensor, real_labels: torch.Tensor
) -> float:
    """mean_c [ E||x_i - x_j|| over samples of class c / the same over real digits of c ].

    1.0 for samples as varied within each class as the real digits; lower means the
    samples of a class look alike (mode collapse within the class).
    """
    x, r = gray_pixels(images), gray_pixels(real)
    ratios = [
        mean_pairwise_distance(x[labels == c]) / mean_pairwise_distance(r[real_labels == c])
        for c in labels.unique().tolist()
        if (labels == c).sum() > 1
    ]
    return float(torch.stack(ratios).mean())


def nearest_distance(images: torch.Tensor, train: torch.Tensor) -> float:
    """E_i min_j ||x_i - t_j||_2: how close each image comes to a training digit."""
    return float(torch.cdist(gray_pixels(images), gray_pixels(train)).min(dim=1).values.mean())


@torch.no_grad()
def evaluate_digits(generator: nn.Module, seed: int = 0) -> dict[str, Any]:
    """Digits metrics of ``generator`` on as many samples as held-out digits (360).

    - class_accuracy: the digits classifier's accuracy on samples of uniform classes;
    - digits_fid against the real training digits, and digits_fid_real, the same FID of the
      held-out real digits: the floor for that many samples;
    - diversity: ``within_class_diversity`` against the training digits (real: about 1);
    - copy check: ``nearest_distance`` of the samples to the training digits, beside that of
      the held-out real digits. A generator that copies its training set comes much
      closer than held-out digits do (ratio well below 1).
    """
    res = generator.cfg.resolution
    extractor = DigitsExtractor()
    reference = digits_reference(res, extractor)
    train, heldout = DigitsDataset(res, "train"), DigitsDataset(res, "heldout")
    batches = list(generator_batches(generator, len(heldout), 250, seed=seed, progress=False))
    images = torch.cat([b for b, _ in batches])
    labels = torch.cat([y for _, y in batches])
    fake = compute_metrics(["fid", "class_accuracy"], iter(batches), extractor, reference)
    real = compute_metrics(
        ["fid"], dataset_batches(heldout, 500, False, progress=False), extractor, reference
    )
    near_fake = nearest_distance(images, train.images)
    near_real = nearest_distance(heldout.images, train.images)
    return {
        "class_accuracy": fake["class_accuracy"],
        "digits_fid": fake["fid"],
        "digits_fid_real": real["fid"],
        "diversity": within_class_diversity(images, labels, train.images, train.labels),
        "diversity_real": within_class_diversity(
            heldout.images, heldout.labels, train.images, train.labels
        ),
        "nearest_train_distance": near_fake,
        "nearest_train_distance_real": near_real,
        "copy_ratio": near_fake / near_real,
        "num_samples": len(images),
        "extractor": extractor.name,
    }
