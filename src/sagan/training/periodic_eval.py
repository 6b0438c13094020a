"""Evaluation at regular steps during training (``--eval-every``)."""

from __future__ import annotations

from typing import Any

from torch import nn

from sagan.config import TrainConfig
from sagan.metrics.registry import parse_metrics
from sagan.training.distributed import World

EVAL_BATCH = 250


class PeriodicEval:
    """Computes the configured metrics of G; the extractor and reference load on first use.

    Under torchrun every rank renders a share of the samples; rank 0 scores them.
    """

    def __init__(self, cfg: TrainConfig, device, world: World | None = None) -> None:
        self.cfg = cfg
        self.device = device
        self.world = world or World()
        self.names = parse_metrics(cfg.resolved_eval_metrics)
        self._parts: tuple[Any, Any] | None = None

    def _setup(self) -> tuple[Any, Any]:
        if self._parts is None:
            from sagan.commands.evaluate import open_reference
            from sagan.metrics.features import make_extractor

            extractor = make_extractor(
                self.cfg.resolved_extractor, self.cfg.inception_weights, self.device
            )
            reference = open_reference(
                self.cfg.data, self.cfg.model.resolution, extractor, EVAL_BATCH, self.device
            )
            self._parts = (extractor, reference)
        return self._parts

    def __call__(self, G: nn.Module, step: int) -> dict[str, Any] | None:
        """A stats row {'step', 'metric/<name>': value, ...} for this step (None off rank 0)."""
        from sagan.metrics.evaluate import evaluate_generator
        from sagan.metrics.sources import generator_batches

        w = self.world
        if not w.is_main:
            for _ in generator_batches(
                G, self.cfg.eval_samples, EVAL_BATCH, self.cfg.seed, False, w.rank, w.size
            ):
                pass
            return None
        extractor, reference = self._setup()
        res = evaluate_generator(
            G,
            self.names,
            self.cfg.eval_samples,
            reference,
            extractor,
            batch=EVAL_BATCH,
            seed=self.cfg.seed,
            progress=False,
            world_size=w.size,
        )
        row: dict[str, Any] = {"step": step, "extractor": res["extractor"]}
        for k, v in res.items():
            if isinstance(v, float) and k not in ("seconds",):
                row[f"metric/{k}"] = v
        return row
