"""SAGAN networks: generator, projection discriminator and their building blocks."""

from sagan.models.attention import ResidualInsteadOfAttention, SelfAttention
from sagan.models.discriminator import Discriminator
from sagan.models.generator import Generator

__all__ = ["Discriminator", "Generator", "ResidualInsteadOfAttention", "SelfAttention"]
