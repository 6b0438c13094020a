"""sagan: Self-Attention GAN (Zhang, Goodfellow, Metaxas, Odena, ICML 2019) in PyTorch."""

from sagan.config import ModelConfig, TrainConfig
from sagan.errors import SaganError
from sagan.models import Discriminator, Generator

__all__ = ["Discriminator", "Generator", "ModelConfig", "SaganError", "TrainConfig"]
__version__ = "0.1.0"
