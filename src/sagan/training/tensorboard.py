"""TensorBoard event files for a run: scalars, sample grids and attention figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torchvision.utils import make_grid


class TensorBoardLog:
    """A SummaryWriter in the run folder, or nothing when disabled (``--no-tensorboard``)."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def scalars(self, row: dict[str, Any], step: int) -> None:
        """Every numeric value of a stats row, under its own tag."""
        if self.writer is None:
            return
        for key, value in row.items():
            if key != "step" and isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(_tag(key), value, step)

    def images(self, tag: str, images: torch.Tensor, step: int, columns: int = 8) -> None:
        """A grid of images in [-1, 1]."""
        if self.writer is not None:
            grid = make_grid(
                images.float().cpu(), nrow=columns, normalize=True, value_range=(-1, 1)
            )
            self.writer.add_image(tag, grid, step)

    @property
    def enabled(self) -> bool:
        """Whether events are written (callers skip building figures otherwise)."""
        return self.writer is not None

    def figure(self, tag: str, fig, step: int) -> None:
        """A matplotlib figure, closed afterwards whether or not it was written."""
        if self.writer is not None:
            self.writer.add_figure(tag, fig, step, close=True)
        else:
            import matplotlib.pyplot as plt

            plt.close(fig)

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()


def _tag(key: str) -> str:
    """stats.jsonl keys to TensorBoard tags: losses, gamma, speed and metrics grouped."""
    if "/" in key:
        return key
    if key.endswith("loss") or "_loss_" in key:
        return f"loss/{key}"
    if key in ("sec_per_step", "images_per_sec"):
        return f"speed/{key}"
    return f"train/{key}"
