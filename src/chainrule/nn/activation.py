"""Activation layers: each calls the core op of ``chainrule.ops.activation``."""

from __future__ import annotations

from ..ops.activation import GELU as _GELU
from ..ops.activation import LeakyReLU as _LeakyReLU
from ..ops.activation import ReLU as _ReLU
from ..ops.activation import Sigmoid as _Sigmoid
from ..ops.activation import Tanh as _Tanh
from ..ops.activation import log_softmax, softmax
from .module import Module


class ReLU(Module):
    """max(x, 0); ``inplace=True`` overwrites the input (``x.relu_()``)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return input.relu_() if self.inplace else _ReLU.apply(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x where x > 0, else negative_slope · x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        if self.inplace:
            return input.leaky_relu_(self.negative_slope)
        return _LeakyReLU.apply(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, input):
        return _Sigmoid.apply(input)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, input):
        return _Tanh.apply(input)


class GELU(Module):
    """x · Φ(x), Φ the standard normal CDF (``approximate="tanh"``: the tanh approximation)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return _GELU.apply(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """exp(x) / Σ exp(x) along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
