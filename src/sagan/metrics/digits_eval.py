"""The digits yardstick of a generator: class_accuracy, digits_fid and its real floor."""

from __future__ import annotations

from typing import Any

from torch import nn

from sagan.data.digits import DigitsDataset
from sagan.metrics.evaluate import Reference, compute_metrics, evaluate_generator
from sagan.metrics.features import DigitsExtractor
from sagan.metrics.sources import dataset_batches


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


def evaluate_digits(generator: nn.Module, seed: int = 0) -> dict[str, Any]:
    """class_accuracy, digits_fid and digits_fid_real, with as many samples as held-out digits.

    digits_fid compares the samples with the real training digits; digits_fid_real does
    the same for the 360 held-out real digits, the floor for that many samples.
    """
    res = generator.cfg.resolution
    extractor = DigitsExtractor()
    reference = digits_reference(res, extractor)
    heldout = DigitsDataset(res, "heldout")
    fake = evaluate_generator(
        generator,
        ["fid", "class_accuracy"],
        len(heldout),
        reference,
        extractor,
        seed=seed,
        progress=False,
    )
    real = compute_metrics(
        ["fid"], dataset_batches(heldout, 500, False, progress=False), extractor, reference
    )
    return {
        "class_accuracy": fake["class_accuracy"],
        "digits_fid": fake["fid"],
        "digits_fid_real": real["fid"],
        "num_samples": fake["num_samples"],
        "extractor": extractor.name,
    }
