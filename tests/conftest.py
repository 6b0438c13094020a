"""Shared fixtures: an isolated cache and tiny configs that train in seconds."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

# The digits classifier is cached here once per session, never in the user's home.
os.environ.setdefault("SAGAN_CACHE", tempfile.mkdtemp(prefix="sagan-test-cache-"))
# huggingface_hub never goes online, nor reads the user's token or cache (set before it
# is imported: it reads these once).
_hf_home = tempfile.mkdtemp(prefix="sagan-test-hf-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = _hf_home
os.environ["HF_HUB_CACHE"] = os.path.join(_hf_home, "hub")
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)
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


@pytest.fixture(scope="session")
def ema_run(tmp_path_factory):
    """A 3-step digits run with EMA, its summary.json and checkpoint: shared, never modified."""
    from sagan.cli import main

    out = tmp_path_factory.mktemp("ema_run")
    argv = ["train", "--steps", "3", "--batch", "8", "--ema", "--no-tensorboard"]
    assert main([*argv, "--out", str(out)]) == 0
    return next(out.iterdir())
