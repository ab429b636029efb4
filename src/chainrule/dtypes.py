"""Data types: float32 by default, as in PyTorch; NumPy dtypes under PyTorch's names."""

from __future__ import annotations

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)


class _Constant(dict):
    """dtype -> a read-only 0-d array holding ``value``: ``ONE[y.dtype] - y`` instead of ``1 - y``.

    NumPy converts a Python number on every call (about 3,000 instructions, as much as the
    arithmetic on a small array); an array of the operand's own dtype it takes as it is."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def __missing__(self, dtype):
        c = self[dtype] = np.array(self.value, dtype)
        c.flags.writeable = False  # shared by every op that reads it
        return c


ZERO, ONE, HALF = _Constant(0), _Constant(1), _Constant(0.5)


def _array_out():
    """``...`` where ufuncs take ``out=...`` (NumPy 2.3 and later): a 0-d result is then returned
    as a 0-d array, not a NumPy scalar that ``np.asarray`` (about 2,000 instructions) has to wrap
    again. None on older NumPy, which rejects it with a TypeError."""
    try:
        np.add(0, 0, out=...)
    except TypeError:
        return None
    return ...


_ARRAY_OUT = _array_out()


class _Default:
    dtype = float32


def set_default_dtype(d) -> None:
    """Set the floating dtype that new float tensors get (float32 or float64)."""
    d = np.dtype(d)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, got {d}")
    _Default.dtype = d


def get_default_dtype() -> np.dtype:
    return _Default.dtype


def to_dtype(d) -> np.dtype | None:
    """Accept cr.float32, np.float32, 'float32', torch-like names; None stays None."""
    return None if d is None else np.dtype(d)
