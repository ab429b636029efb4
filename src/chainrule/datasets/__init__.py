"""Ready-made datasets, read from local files (or downloaded on request)."""

from .mnist import MNIST, FashionMNIST

__all__ = ["MNIST", "FashionMNIST"]
