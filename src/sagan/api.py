"""The Python API next to the command line: train and evaluate from code.

>>> import sagan
>>> cfg = sagan.TrainConfig.from_preset("digits", steps=2, batch=8, out=str(tmp), tensorboard=False)
>>> run = sagan.train(cfg, quiet=True)
>>> G = sagan.Generator.from_pretrained(run)
>>> G.sample([3, 1, 4]).shape
torch.Size([3, 3, 16, 16])
>>> sorted(sagan.evaluate(G, metrics="fid,class_accuracy", samples=50))[:2]
['class_accuracy', 'extractor']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from sagan.config import TrainConfig


def train(config: TrainConfig, resume: str | Path | None = None, quiet: bool = False) -> Path:
    """Train as ``sagan train`` does and return the run folder.

    ``resume`` continues the run in that folder from its newest checkpoint.
    """
    from sagan.training.loop import train as run  # the training stack loads only when used

    return run(config, resume=resume, quiet=quiet)


def evaluate(
    model: nn.Module | str | Path,
    metrics: str | list[str] = "is,fid",
    samples: int = 50_000,
    real: str | None = None,
    extractor: str = "auto",
    inception_weights: str | None = None,
    batch: int = 250,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of a generator (or any SOURCE of ``from_pretrained``), as ``sagan eval``.

    ``real`` defaults to 'digits' for 16x16 digits models; otherwise pass the reference
    data. ``extractor`` 'auto' uses the digits classifier for digits data, else Inception.
    """
    from sagan.commands.evaluate import open_reference
    from sagan.metrics.evaluate import evaluate_generator
    from sagan.metrics.features import make_extractor
    from sagan.models import Generator

    G = model if isinstance(model, nn.Module) else Generator.from_pretrained(model)
    real = real or "digits"
    kind = extractor if extractor != "auto" else ("digits" if real == "digits" else "inception")
    device = next(G.parameters()).device
    ext = make_extractor(kind, inception_weights, device)
    reference = open_reference(real, G.cfg.resolution, ext, batch, device, progress=False)
    return evaluate_generator(G, metrics, samples, reference, ext, batch, seed, progress=False)
