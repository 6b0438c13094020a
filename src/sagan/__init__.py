"""sagan: Self-Attention GAN (Zhang, Goodfellow, Metaxas, Odena, ICML 2019) in PyTorch.

>>> import torch, sagan
>>> cfg = sagan.ModelConfig.from_preset("imagenet128", num_classes=1000)
>>> G, D = sagan.Generator(cfg), sagan.Discriminator(cfg)
>>> y = torch.tensor([1, 207])
>>> images, maps = G(torch.randn(2, 128), y, return_attention=True)
>>> images.shape, maps["feat32"].shape, D(images, y).shape
(torch.Size([2, 3, 128, 128]), torch.Size([2, 1024, 256]), torch.Size([2]))
"""

from sagan import pretrained  # also installs Generator.from_pretrained and save_pretrained
from sagan.api import evaluate, train
from sagan.config import ModelConfig, TrainConfig
from sagan.errors import SaganError
from sagan.models import Discriminator, Generator

SAGANConfig = ModelConfig  # the architecture config under the name other libraries use

__all__ = [
    "Discriminator",
    "Generator",
    "ModelConfig",
    "SAGANConfig",
    "SaganError",
    "TrainConfig",
    "evaluate",
    "pretrained",
    "train",
]
__version__ = "0.1.0"
