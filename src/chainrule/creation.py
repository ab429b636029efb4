"""Making tensors: from data, filled, ranges, random (from the one global generator)."""

from __future__ import annotations

import numpy as np

from .dtypes import _Default
from .random import _rng
from .tensor import Tensor, _make


def _infer(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype)
    arr = np.array(data)
    if arr.dtype == np.float64 and not isinstance(data, np.ndarray):
        arr = arr.astype(_Default.dtype)  # Python floats become the default dtype
    elif arr.dtype.kind == "O":
        raise TypeError(f"tensor: could not convert data of type {type(data).__name__} to a tensor")
    return arr


def _leaf(arr, requires_grad):
    t = _make(arr, None)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data``. Python floats become float32 (the default
    dtype), Python ints int64, a NumPy array keeps its dtype."""
    return _leaf(_infer(data, dtype), requires_grad)


def as_tensor(data, dtype=None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtype):
        return _make(data, None)
    return tensor(data, dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor that shares memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(array).__name__})")
    return _make(array, None)


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _filled(fill, size, dtype, requires_grad):
    return _leaf(np.full(_shape(size), fill, dtype=dtype or _Default.dtype), requires_grad)


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(0, size, dtype, requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(1, size, dtype, requires_grad)


def empty(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.empty(_shape(size), dtype=dtype or _Default.dtype), requires_grad)


def full(size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = (np.bool_ if isinstance(fill_value, bool) else
                 np.int64 if isinstance(fill_value, int) else _Default.dtype)
    return _leaf(np.full(tuple(size), fill_value, dtype=dtype), requires_grad)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.zeros(t.shape, dtype=dtype or t.dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.ones(t.shape, dtype=dtype or t.dtype), requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.full(t.shape, fill_value, dtype=dtype or t.dtype), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, end, step))
        dtype = np.int64 if ints else _Default.dtype
    return _leaf(np.arange(start, end, step, dtype=dtype), requires_grad)


def linspace(start, end, steps: int, dtype=None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.linspace(start, end, steps, dtype=dtype or _Default.dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.eye(n, m, dtype=dtype or _Default.dtype), requires_grad)


def rand(*size, generator=None, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1), from the global generator (``cr.manual_seed``) or ``generator``."""
    arr = _rng(generator).random(_shape(size), dtype=np.float64).astype(dtype or _Default.dtype)
    return _leaf(arr, requires_grad)


def randn(*size, generator=None, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal, from the global generator (``cr.manual_seed``) or ``generator``."""
    arr = _rng(generator).standard_normal(_shape(size)).astype(dtype or _Default.dtype)
    return _leaf(arr, requires_grad)


def randint(low, high=None, size=(), generator=None, dtype=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return _leaf(_rng(generator).integers(low, high, tuple(size)).astype(dtype or np.int64), False)


def randperm(n: int, generator=None, dtype=None) -> Tensor:
    return _leaf(_rng(generator).permutation(n).astype(dtype or np.int64), False)
