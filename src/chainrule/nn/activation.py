"""Activation layers: each calls the core op of ``chainrule.ops.activation``."""

from __future__ import annotations

import warnings

import numpy as np

from ..ops.activation import GELU as _GELU
from ..ops.activation import LeakyReLU as _LeakyReLU
from ..ops.activation import ReLU as _ReLU
from ..ops.activation import Sigmoid as _Sigmoid
from ..ops.activation import Tanh as _Tanh
from ..ops import activation as A
from ..ops.activation import log_softmax, softmax
from . import init
from .linear import _factory
from .module import Module
from .parameter import Parameter


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


class _AlongDim(Module):
    """An activation along one axis: ``fn(input, dim)``."""

    fn = None

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return type(self).fn(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """exp(x) / Σ exp(x) along ``dim``."""

    fn = staticmethod(softmax)


class LogSoftmax(_AlongDim):
    """log(softmax(x)) along ``dim``, computed stably."""

    fn = staticmethod(log_softmax)


# -- PyTorch's other activations (issue 15): each calls its function in ``ops.activation`` -------

class _Inplace(Module):
    """An activation with only PyTorch's ``inplace`` option: ``fn(input, inplace)``."""

    fn = None

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self).fn(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SELU(_Inplace):
    """scale · elu(x, α) with PyTorch's constants (scale ≈ 1.0507, α ≈ 1.6733)."""

    fn = staticmethod(A.selu)


class SiLU(_Inplace):
    """x σ(x) (swish)."""

    fn = staticmethod(A.silu)


class Mish(_Inplace):
    """x tanh(softplus(x))."""

    fn = staticmethod(A.mish)


class Hardswish(_Inplace):
    """x · relu6(x + 3) / 6."""

    fn = staticmethod(A.hardswish)

    def extra_repr(self) -> str:  # PyTorch prints no options here
        return ""


class Hardsigmoid(Hardswish):
    """relu6(x + 3) / 6."""

    fn = staticmethod(A.hardsigmoid)


class ELU(Module):
    """x where x > 0, else α (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return A.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """max(0, x) + min(0, α (exp(x/α) - 1))."""

    def forward(self, input):
        return A.celu(input, self.alpha, self.inplace)


class Softplus(Module):
    """log(1 + exp(β x)) / β, and x where β x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        return A.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input):
        return A.softsign(input)


class LogSigmoid(Module):
    """log σ(x)."""

    def forward(self, input):
        return A.logsigmoid(input)


class Hardtanh(Module):
    """x clipped to [min_val, max_val] (``min_value``/``max_value``: PyTorch's old names)."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        for old, new, value in (("min_value", "min_val", min_value),
                                ("max_value", "max_val", max_value)):
            if value is not None:
                warnings.warn(f"keyword argument `{old}` is deprecated and renamed to `{new}`",
                              FutureWarning, stacklevel=2)
        min_val = min_val if min_value is None else min_value
        max_val = max_val if max_value is None else max_value
        if max_val <= min_val:
            raise AssertionError(f"Hardtanh: max_val ({max_val}) must be greater than min_val "
                                 f"({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input):
        return A.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return (f"min_val={self.min_val}, max_val={self.max_val}"
                + (", inplace=True" if self.inplace else ""))


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Threshold(Module):
    """x where x > threshold, else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input):
        return A.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return (f"threshold={self.threshold}, value={self.value}"
                + (", inplace=True" if self.inplace else ""))


class PReLU(Module):
    """x where x > 0, else a · x, with ``a`` learned: one slope (``num_parameters=1``) or one
    per channel (axis 1 of the input), each starting at ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(np.empty(num_parameters, _factory(device, dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return A.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Softmin(_AlongDim):
    """softmax(-x) along ``dim``."""

    fn = staticmethod(A.softmin)


class GLU(_AlongDim):
    """a σ(b), a and b the halves of the input along ``dim``."""

    fn = staticmethod(A.glu)

    def __init__(self, dim: int = -1) -> None:
        super().__init__(dim)
