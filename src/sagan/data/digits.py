"""The embedded default dataset: scikit-learn's bundled 8x8 handwritten digits.

1,797 images in 10 classes ship with scikit-learn, so nothing is downloaded. A fixed,
stratified split keeps 360 digits out of training; the digits classifier and the
``digits_fid_real`` floor use them (see ``sagan.metrics.digits``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

HELDOUT_FRACTION = 0.2
SPLIT_SEED = 0


def load_digits_arrays(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Digits as float [N, 1, 8, 8] in [0, 1] and labels [N], for 'train', 'heldout' or 'all'."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().div(16.0)[:, None]
    labels = torch.from_numpy(bunch.target).long()
    if split == "all":
        return images, labels
    idx_train, idx_held = train_test_split(
        range(len(labels)),
        test_size=HELDOUT_FRACTION,
        stratify=labels.numpy(),
        random_state=SPLIT_SEED,
    )
    idx = torch.tensor(idx_train if split == "train" else idx_held)
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be train, heldout or all, not {split!r}")
    return images[idx], labels[idx]


def digits_to_uint8(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Upscale [N, 1, 8, 8] digits in [0, 1] bilinearly to RGB uint8 [N, 3, R, R]."""
    x = F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return x.expand(-1, 3, -1, -1).contiguous()


class DigitsDataset(Dataset):
    """The digits at the preset's resolution, as uint8 RGB, 10 classes."""

    def __init__(self, resolution: int, split: str = "train") -> None:
        images, labels = load_digits_arrays(split)
        self.images = digits_to_uint8(images, resolution)
        self.labels = labels
        self.classes = [str(i) for i in range(10)]
        self.num_classes = 10
        self.name = "digits"

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        return self.images[i], int(self.labels[i]), 0
