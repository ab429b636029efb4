"""``Dropout``: zero elements at random while training (inverted dropout)."""

from __future__ import annotations

from ..ops.nn import dropout
from .module import Module


class Dropout(Module):
    """In training, zero each element with probability ``p`` and scale the others by
    1/(1-p); in eval mode, the identity. Masks come from the global generator."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
