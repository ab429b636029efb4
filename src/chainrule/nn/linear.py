"""``Linear`` (y = x Wᵀ + b) and ``Identity``."""

from __future__ import annotations


import numpy as np

from ..dtypes import _Default
from ..ops.nn import Linear as _Linear
from . import init
from .module import Module


def _factory(device, dtype) -> np.dtype:
    """PyTorch's ``device=`` / ``dtype=`` construction arguments: CPU only, default dtype."""
    if device is not None and str(device).split(":")[0] != "cpu":
        raise RuntimeError(f"chainrule runs on the CPU only, got device {device!r}")
    return np.dtype(dtype) if dtype is not None else _Default.dtype


class Identity(Module):
    """Returns its input; takes and ignores any arguments (a placeholder layer)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x Wᵀ + b for x of shape (*, in_features): ``weight`` (out_features, in_features) and
    ``bias`` (out_features,), both initialised from U(-1/√in_features, 1/√in_features) as in
    PyTorch (kaiming_uniform_ with a=√5 for the weight). The forward is one fused node."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        dtype = _factory(device, dtype)
        self.in_features = in_features
        self.out_features = out_features
        init._weight_and_bias(self, (out_features, in_features), bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_reset_(self.weight, self.bias)

    def forward(self, input):
        params = self._parameters  # one dict lookup instead of two __getattr__ calls
        return _Linear.apply(input, params["weight"], params["bias"])

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
