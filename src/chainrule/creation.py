"""Making tensors: from data, filled, ranges, random (from the one global generator)."""

from __future__ import annotations

import numpy as np

from .dtypes import _Default
from .random import _rng
from .device import check_device
from .tensor import Tensor, _make


def _infer(data, dtype):
    if isinstance(data, Tensor):
        data = data._data
    if dtype is not None:
        return np.array(data, dtype=dtype)
    arr = np.array(data)
    if arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.float64)):
        arr = arr.astype(_Default.dtype)  # Python floats become the default dtype
    elif arr.dtype.kind == "O":
        raise TypeError(f"tensor: could not convert data of type {type(data).__name__} to a tensor")
    return arr


def _leaf(arr, requires_grad):
    t = _make(arr, None)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data``. Python floats become float32 (the default
    dtype), Python ints int64, a NumPy array keeps its dtype."""
    check_device(device, "tensor")
    return _leaf(_infer(data, dtype), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    check_device(device, "as_tensor")
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


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "zeros")
    return _filled(0, size, dtype, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "ones")
    return _filled(1, size, dtype, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "empty")
    return _leaf(np.empty(_shape(size), dtype=dtype or _Default.dtype), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "full")
    if dtype is None:
        dtype = (np.bool_ if isinstance(fill_value, bool) else
                 np.int64 if isinstance(fill_value, int) else _Default.dtype)
    return _leaf(np.full(tuple(size), fill_value, dtype=dtype), requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "zeros_like")
    return _leaf(np.zeros(t.shape, dtype=dtype or t.dtype), requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "ones_like")
    return _leaf(np.ones(t.shape, dtype=dtype or t.dtype), requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "full_like")
    return _leaf(np.full(t.shape, fill_value, dtype=dtype or t.dtype), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, end, step))
        dtype = np.int64 if ints else _Default.dtype
    return _leaf(np.arange(start, end, step, dtype=dtype), requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    check_device(device, "linspace")
    return _leaf(np.linspace(start, end, steps, dtype=dtype or _Default.dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    check_device(device, "eye")
    return _leaf(np.eye(n, m, dtype=dtype or _Default.dtype), requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1), from the global generator (``cr.manual_seed``) or ``generator``."""
    check_device(device, "rand")
    arr = _rng(generator).random(_shape(size), dtype=np.float64).astype(dtype or _Default.dtype)
    return _leaf(arr, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal, from the global generator (``cr.manual_seed``) or ``generator``."""
    check_device(device, "randn")
    arr = _rng(generator).standard_normal(_shape(size)).astype(dtype or _Default.dtype)
    return _leaf(arr, requires_grad)


def randint(low=0, high=None, size=None, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers uniform in [low, high), as PyTorch: ``randint(high, size)`` or
    ``randint(low, high, size)`` (int64 unless ``dtype`` says otherwise)."""
    check_device(device, "randint")
    if size is None:  # randint(high, size)
        if high is None or isinstance(high, (int, np.integer)):
            raise TypeError("randint() missing the argument 'size' (a tuple of ints): call "
                            "randint(high, size) or randint(low, high, size)")
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"randint: expects 'low' to be less than 'high', but got low={low} >= "
                           f"high={high}")
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    return _leaf(_rng(generator).integers(low, high, size).astype(dtype or np.int64), requires_grad)


def rand_like(input, dtype=None, requires_grad: bool = False, generator=None,
              device=None) -> Tensor:
    """Uniform on [0, 1), of ``input``'s shape and (by default) dtype."""
    check_device(device, "rand_like")
    return rand(*input.shape, generator=generator, dtype=_float_like("rand_like", input, dtype),
                requires_grad=requires_grad)


def randn_like(input, dtype=None, requires_grad: bool = False, generator=None,
               device=None) -> Tensor:
    """Standard normal, of ``input``'s shape and (by default) dtype."""
    check_device(device, "randn_like")
    return randn(*input.shape, generator=generator, dtype=_float_like("randn_like", input, dtype),
                 requires_grad=requires_grad)


def randint_like(input, low=0, high=None, dtype=None, requires_grad: bool = False,
                 generator=None, device=None) -> Tensor:
    """Integers uniform in [low, high) (``randint_like(input, high)`` or ``(input, low, high)``),
    of ``input``'s shape and (by default) dtype."""
    check_device(device, "randint_like")
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, generator=generator, dtype=dtype or input.dtype,
                   requires_grad=requires_grad)


def _float_like(op, input, dtype):
    dtype = np.dtype(dtype or input.dtype)
    if dtype.kind != "f":
        raise RuntimeError(f"{op}: random floats need a floating dtype, got {dtype} (pass "
                           f"dtype=chainrule.float32)")
    return dtype


# -- Tensor.new_*: a new tensor of this tensor's dtype -------------------------------------------

def new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "new_tensor")
    return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "new_zeros")
    return _filled(0, size, dtype or self.dtype, requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "new_ones")
    return _filled(1, size, dtype or self.dtype, requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "new_empty")
    return _leaf(np.empty(_shape(size), dtype=dtype or self.dtype), requires_grad)


def new_full(self, size, fill_value, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    check_device(device, "new_full")
    if isinstance(size, (int, np.integer)):
        raise TypeError(f"new_full(): argument 'size' must be a tuple of ints, not int (write "
                        f"new_full(({size},), {fill_value}))")
    return _leaf(np.full(tuple(size), fill_value, dtype=dtype or self.dtype), requires_grad)


def randperm(n: int, generator=None, dtype=None, device=None) -> Tensor:
    check_device(device, "randperm")
    return _leaf(_rng(generator).permutation(n).astype(dtype or np.int64), False)


def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Indices drawn from the categories of each row of ``input`` (non-negative weights, not
    necessarily summing to 1), ``num_samples`` per row, as PyTorch's: without ``replacement``
    each category at most once. ``input`` (C,) gives (num_samples,), (N, C) gives
    (N, num_samples), int64. Draws from chainrule's generator (``cr.manual_seed``)."""
    w = np.asarray(input._data if isinstance(input, Tensor) else input, dtype=np.float64)
    if w.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got {w.ndim}")
    rows = w.reshape(-1, w.shape[-1])
    if rows.shape[-1] == 0:
        raise RuntimeError("multinomial: number of categories cannot be zero")
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or "
                           "element < 0")
    if (rows.sum(axis=1) <= 0).any():
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of "
                           "probabilities <= 0)")
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples (got {num_samples})")
    if not replacement and num_samples > rows.shape[-1]:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                           f"without replacement ({num_samples} > {rows.shape[-1]})")
    if not replacement and num_samples > (rows > 0).sum(axis=1).min():
        raise RuntimeError("multinomial: invalid multinomial distribution (with replacement="
                           "False, not enough non-negative category to sample)")
    rng = _rng(generator)
    out = np.stack([rng.choice(len(p), size=num_samples, replace=replacement, p=p / p.sum())
                    for p in rows])
    return _leaf(out.reshape(w.shape[:-1] + (num_samples,)).astype(np.int64), False)
