"""Dropout layers: zero elements (``Dropout``) or whole channels (``Dropout1d``, ``Dropout2d``,
``Dropout3d``) at random while training, scaling the rest by 1/(1-p) (inverted dropout)."""

from __future__ import annotations

from ..ops.nn import dropout, dropout1d, dropout2d, dropout3d
from .module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """In training, zero each element with probability ``p`` and scale the others by
    1/(1-p); in eval mode, the identity. Masks come from the global generator."""

    def forward(self, input):
        return dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """In training, zero each channel of (N, C, L) or (C, L) inputs with probability ``p``, and
    scale the others by 1/(1-p); in eval mode, the identity."""

    def forward(self, input):
        return dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """In training, zero each channel of (N, C, H, W) inputs with probability ``p``, and scale the
    others by 1/(1-p); in eval mode, the identity. (A 3-D input is taken as (N, C, L), with
    PyTorch's warning.)"""

    def forward(self, input):
        return dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """In training, zero each channel of (N, C, D, H, W) or (C, D, H, W) inputs with probability
    ``p``, and scale the others by 1/(1-p); in eval mode, the identity."""

    def forward(self, input):
        return dropout3d(input, self.p, self.training, self.inplace)
