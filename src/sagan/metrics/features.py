"""Feature extractors: the TF-exact InceptionV3 (torch-fidelity) and the digits classifier.

An extractor maps uint8 images [N, 3, H, W] to ``(pool [N, D] float32, logits [N, K])``.
It has a ``name`` that every report carries, and a ``weights_hash`` that pins its weights.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from sagan.errors import SaganError

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
)
INCEPTION_ENV = "SAGAN_INCEPTION_WEIGHTS"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def find_inception_weights(path: str | None = None, download: bool = True) -> Path:
    """The Inception weights file: ``path``, $SAGAN_INCEPTION_WEIGHTS, torch's hub cache,
    or (with internet) a download into that cache. Otherwise a SaganError says what to do.
    $SAGAN_NO_DOWNLOAD=1 skips the download attempt.
    """
    for candidate, source in (
        (path, "--inception-weights"),
        (os.environ.get(INCEPTION_ENV), INCEPTION_ENV),
    ):
        if candidate:
            if not Path(candidate).is_file():
                raise SaganError(
                    f"{source} '{candidate}' does not exist: pass the {INCEPTION_FILE} file"
                )
            return Path(candidate)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if cached.is_file():
        return cached
    if download and not os.environ.get("SAGAN_NO_DOWNLOAD"):
        try:
            torch.hub.download_url_to_file(INCEPTION_URL, str(cached), progress=True)
            return cached
        except Exception:
            cached.unlink(missing_ok=True)
    raise SaganError(
        f"the Inception weights {INCEPTION_FILE} are not available offline: download them from "
        f"{INCEPTION_URL} on a machine with internet, then pass --inception-weights FILE or set "
        f"{INCEPTION_ENV}=FILE (or put the file in {cached.parent})"
    )


class InceptionExtractor(nn.Module):
    """torch-fidelity's TF-exact InceptionV3: pool3 '2048' features and 'logits_unbiased'.

    Input is uint8; the network resizes to 299x299 with TensorFlow 1.x's bilinear rule.
    """

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.weights = Path(weights)
        try:
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat",
                ["2048", "logits_unbiased"],
                feature_extractor_weights_path=str(self.weights),
            )
        except Exception as e:
            raise SaganError(
                f"cannot load Inception weights '{weights}' ({type(e).__name__}): pass the {INCEPTION_FILE} file"
            ) from None
        self.name = "inception-v3-compat (torch-fidelity, TF 2015-12-05)"
        self.dim = 2048
        self.weights_hash = file_sha256(self.weights)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pool3 [N, 2048], logits_unbiased [N, 1008]) of uint8 images [N, 3, H, W]."""
        pool, logits = self.net(images)
        return pool.float(), logits.float()


class DigitsExtractor(nn.Module):
    """The digits classifier as an extractor: 64-d penultimate features and 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        from sagan.metrics.digits import CLASSIFIER_VERSION, load_digits_classifier

        self.net = load_digits_classifier()
        self.name = f"digits-classifier-v{CLASSIFIER_VERSION} (penultimate 64-d; not Inception)"
        self.dim = 64
        self.weights_hash = hashlib.sha256(
            b"".join(t.numpy().tobytes() for t in self.net.state_dict().values())
        ).hexdigest()

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [N, 64], logits [N, 10]) of uint8 images [N, 3, H, W]."""
        from sagan.metrics.digits import classifier_input

        feats = self.net.features(classifier_input(images.cpu()))
        return feats, self.net.head(feats)


def make_extractor(
    kind: str, weights: str | None = None, device: str | torch.device = "cpu"
) -> nn.Module:
    """'inception' or 'digits'."""
    if kind == "digits":
        return DigitsExtractor()
    if kind == "inception":
        return InceptionExtractor(find_inception_weights(weights)).to(device)
    raise SaganError(f"unknown feature extractor {kind!r}: choose inception or digits")
