"""Ready-made datasets, read from local files (or downloaded on request)."""

from .mnist import MNIST, FashionMNIST
from .words import Words

__all__ = ["MNIST", "FashionMNIST", "Words"]
