"""An offline yardstick for the embedded digits: a small classifier and digits-FID.

The classifier is trained in seconds on the training split of the real digits and
cached. ``class_accuracy`` says whether samples show the class they were asked for;
``digits_fid`` (FID on the classifier's penultimate features) says whether they are as
varied as real digits. ``digits_fid_real`` is the same FID for held-out real digits:
the floor a perfect generator would reach with the same number of samples.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sagan.data.digits import digits_to_uint8, load_digits_arrays
from sagan.training.checkpoint import save_checkpoint

CLASSIFIER_RES = 16
CLASSIFIER_VERSION = 1


class DigitsClassifier(nn.Module):
    """Two conv-pool stages, a 64-unit hidden layer (the features), a linear layer to 10."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features [N, 64] of classifier inputs [N, 1, 16, 16]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, 10]."""
        return self.head(self.body(x))


def classifier_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB [N, 3, R, R] -> grayscale float [N, 1, 16, 16] in [0, 1]."""
    x = images.float().div(255.0).mean(dim=1, keepdim=True)
    if x.shape[-1] != CLASSIFIER_RES:
        x = F.interpolate(x, size=(CLASSIFIER_RES, CLASSIFIER_RES), mode="bilinear", antialias=True)
    return x


def cache_dir() -> Path:
    """Where the classifier is cached: $SAGAN_CACHE, else ~/.cache/sagan."""
    return Path(os.environ.get("SAGAN_CACHE", Path.home() / ".cache" / "sagan"))


def train_digits_classifier(seed: int = 0, epochs: int = 20) -> DigitsClassifier:
    """Train the classifier on the training split, with random 1-pixel shifts."""
    images, labels = load_digits_arrays("train")
    x = classifier_input(digits_to_uint8(images, CLASSIFIER_RES))
    with torch.random.fork_rng(), torch.enable_grad():
        torch.manual_seed(seed)
        model = DigitsClassifier()
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        for _ in range(epochs):
            for idx in torch.randperm(len(x)).split(64):
                dx, dy = torch.randint(-1, 2, (2,)).tolist()
                batch = torch.roll(x[idx], shifts=(dy, dx), dims=(2, 3))
                loss = F.cross_entropy(model(batch), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return model.eval()


def load_digits_classifier() -> DigitsClassifier:
    """The cached classifier, trained (in seconds) and cached on first use."""
    path = cache_dir() / f"digits-classifier-v{CLASSIFIER_VERSION}.pt"
    model = DigitsClassifier()
    if path.is_file():
        try:
            model.load_state_dict(torch.load(path, weights_only=True)["model"])
            return model.eval()
        except Exception:
            pass  # a damaged cache is rebuilt below
    model = train_digits_classifier()
    with contextlib.suppress(OSError):  # a read-only cache only costs a retrain next time
        save_checkpoint(path, {"model": model.state_dict()})
    return model


@torch.no_grad()
def classify(model: DigitsClassifier, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes [N] and penultimate features [N, 64] of uint8 images."""
    feats = torch.cat([model.features(classifier_input(b)) for b in images.split(256)])
    return model.head(feats).argmax(dim=1), feats


def quantize(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8, exactly as a saved PNG would hold them."""
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
