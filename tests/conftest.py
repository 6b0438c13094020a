"""Shared fixtures: an isolated cache and tiny configs that train in seconds."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

# The digits classifier is cached here once per session, never in the user's home.
os.environ.setdefault("SAGAN_CACHE", tempfile.mkdtemp(prefix="sagan-test-cache-"))
torch.set_num_threads(min(2, torch.get_num_threads()))

from sagan.commands.common import model_config  # noqa: E402
from sagan.config import TrainConfig  # noqa: E402


@pytest.fixture
def tiny_train_config(tmp_path):
    """A digits run of a few steps with batch 8, writing under tmp_path."""

    def make(**kw) -> TrainConfig:
        base = dict(
            model=model_config("digits", 10),
            preset="digits",
            data="digits",
            out=str(tmp_path / "runs"),
            steps=4,
            batch=8,
            ckpt_every=2,
            sample_every=2,
            log_every=1,
            seed=3,
        )
        base.update(kw)
        return TrainConfig(**base)

    return make
