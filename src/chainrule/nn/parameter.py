"""``Parameter``: a Tensor that a Module registers as one of its learnable weights."""

from __future__ import annotations

import numpy as np

from ..dtypes import _Default
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad (unless told otherwise) and that a ``Module`` registers
    when assigned as an attribute. ``Parameter(t)`` shares ``t``'s array, as in PyTorch."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            arr = np.empty((0,), _Default.dtype)
        elif isinstance(data, Tensor):
            arr = data._data
        else:
            arr = np.asarray(data)
            if arr.dtype == np.float64 and not isinstance(data, np.ndarray):
                arr = arr.astype(_Default.dtype)  # Python floats: the default dtype
        self._data = arr
        self.grad = None
        self.grad_fn = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __deepcopy__(self, memo):
        """A copy of the values, without ``.grad``, as PyTorch's (a deep-copied layer starts
        clean: ``nn.TransformerEncoder`` copies its layer ``num_layers`` times)."""
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self._data.copy(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
