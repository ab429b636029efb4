"""Cumulative sums and products, sorting and selecting by rank (sort, topk, kthvalue, median,
mode), unique, and the logical reductions (all, any, count_nonzero).

An op that selects values (sort's values, topk's, median's, ...) is ``x`` taken at the indices it
chose: its gradient goes back to those positions (TakeAlongDim of ``index.py``, MaxDim of
``reduce.py``, under the op's own name). Sorting is stable, and NaN sorts as the largest value,
as in PyTorch.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..autograd.function import Function
from ..dtypes import ONE, _Default
from .index import TakeAlongDim
from .reduce import Amax, MaxDim, _axes, _numpy_names
from .shape import _dim


class Cumsum(Function):
    """y_i = Σ_{j≤i} x_j along dim;  dL/dx_i = Σ_{j≥i} dL/dy_j (a cumsum from the end)"""

    @staticmethod
    def forward(ctx, x, dim):
        return np.cumsum(x, axis=dim)

    @staticmethod
    def backward(ctx, grad_output):
        return _reverse_cumsum(grad_output, ctx.inputs[1]), None


def _reverse_cumsum(g, dim):
    """Σ_{j≥i} g_j along ``dim``: a cumsum of ``g`` flipped, flipped back."""
    flip = (slice(None),) * dim + (slice(None, None, -1),)
    return Cumsum.call(g[flip], dim)[flip]


class Cumprod(Function):
    """y_i = Π_{j≤i} x_j along dim;  dL/dx_i = Σ_{j≥i} dL/dy_j Π_{k≤j, k≠i} x_k, which is
    Σ_{j≥i} dL/dy_j y_j / x_i where no x is 0, and is computed without dividing where one is"""

    @staticmethod
    def forward(ctx, x, dim):
        y = np.cumprod(x, axis=dim)
        ctx.saved = (x, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved
        dim = ctx.inputs[1]
        zero = np.asarray(x == 0)
        if not zero.any():
            return _reverse_cumsum(grad_output * y, dim) / x, None
        if type(x) is np.ndarray:
            return _cumprod_grad_zeros(x, y, grad_output, dim, zero), None
        return _cumprod_grad_square(x, grad_output, dim), None


def _cumprod_grad_zeros(x, y, g, dim, zero):
    """Cumprod's gradient on arrays where x has zeros, in O(n): before a row's first zero, the
    quotient formula holds; at the first zero k, Σ_{j≥k} g_j Π_{m≤j, m≠k} x_m is a cumprod with
    x_k set to 1; after it, every product has the factor x_k = 0."""
    seen = np.cumsum(zero, axis=dim)
    before, first = seen == 0, zero & (seen == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        grad = np.where(before, _reverse_cumsum(g * y, dim) / np.where(before, x, 1), 0)
    skipped = np.cumprod(np.where(first, 1, x), axis=dim)  # Π_{m≤j, m≠k} x_m
    return grad + np.where(first, _reverse_cumsum(g * skipped, dim), 0)


def _cumprod_grad_square(x, g, dim):
    """Cumprod's gradient as a polynomial in x (for a recorded backward, where x has zeros: it
    must be right to every order there too): row i of an n × n square holds the cumprod of x
    with x_i set to 1, and dL/dx_i = Σ_{j≥i} g_j square[i, j]."""
    rows = np.moveaxis(x, dim, -1)  # (..., n)
    n = rows.shape[-1]
    square = np.expand_dims(rows, -2).expand(*rows.shape[:-1], n, n)  # [..., i, j] = x_j
    skipped = Cumprod.call(np.where(np.eye(n, dtype=bool), ONE[x.dtype], square), -1 % square.ndim)
    upper = np.triu(np.ones((n, n), x.dtype))  # j ≥ i
    grad = (skipped * upper * np.expand_dims(np.moveaxis(g, dim, -1), -2)).sum(axis=-1)
    return np.moveaxis(grad, -1, dim)


class Sort(TakeAlongDim):
    """values = x taken at the sorted order;  dL/dx = dL/dvalues put back where each came from"""

    op = "sort"


class Topk(TakeAlongDim):
    """values = x at the k largest (or smallest);  dL/dx = dL/dvalues at those positions, 0
    elsewhere"""

    op = "topk"


class Kthvalue(MaxDim):
    """values = the k-th smallest along dim;  dL/dx = dL/dvalues at its index, 0 elsewhere"""

    op = "kthvalue"


class MedianDim(MaxDim):
    """values = the lower median along dim;  dL/dx = dL/dvalues at its index, 0 elsewhere"""

    op = "median"


class Mode(MaxDim):
    """values = the most frequent value along dim;  dL/dx = dL/dvalues at its index"""

    op = "mode"


class Median(Amax):
    """y = the lower median of all elements (NaN if there is one);  dL/dx = dL/dy shared evenly
    among the elements equal to it (PyTorch's rule)"""

    @staticmethod
    def pick(x, axis, keepdims):
        flat = x.reshape(-1)
        if flat.size == 0:
            value = np.nan
        elif flat.dtype.kind in "fc" and np.isnan(flat).any():
            value = np.nan
        else:
            k = (flat.size - 1) // 2
            value = np.partition(flat, k)[k]
        return np.full((1,) * x.ndim, value, x.dtype if flat.size else _Default.dtype)


class Unique(Function):
    """y = the distinct values of x, sorted; it has no derivative, as in PyTorch"""

    @staticmethod
    def forward(ctx, x, values):
        return values

    @staticmethod
    def backward(ctx, grad_output):
        raise RuntimeError("unique: the derivative of unique is not implemented (as in PyTorch)")


# -- sorting -----------------------------------------------------------------------------------

_sort_ret = namedtuple("sort", ["values", "indices"])
_topk_ret = namedtuple("topk", ["values", "indices"])
_kthvalue_ret = namedtuple("kthvalue", ["values", "indices"])
_median_ret = namedtuple("median", ["values", "indices"])
_mode_ret = namedtuple("mode", ["values", "indices"])


def _order(data, axis, descending):
    """Stable argsort along ``axis`` (NaN last; with ``descending``, NaN first and equal values
    still in their original order)."""
    if not descending:
        return np.argsort(data, axis=axis, kind="stable")
    flip = (slice(None),) * axis + (slice(None, None, -1),)
    return data.shape[axis] - 1 - np.argsort(data[flip], axis=axis, kind="stable")[flip]


def _int64(a):
    return _make(np.asarray(a).astype(np.int64, copy=False), None)


def _one_dim(op, input, dim, axis):
    """The normalised dim of a one-dim op; a 0-d tensor has dim 0 (or -1)."""
    dim = axis if axis is not None else dim
    return _dim(dim, input.ndim, op)


def sort(input, dim: int = -1, descending: bool = False, *, stable: bool = False, axis=None):
    """(values, indices) sorted along ``dim``; always stable (``stable=`` is accepted)."""
    d = _one_dim("sort", input, dim, axis)
    if input.ndim == 0:
        return _sort_ret(input * 1, _int64(0))
    idx = _order(input._data, d, descending)
    return _sort_ret(Sort.apply(input, idx, d), _int64(idx))


def argsort(input, dim: int = -1, descending: bool = False, *, stable: bool = False, axis=None):
    """The indices that sort ``input`` along ``dim`` (stable)."""
    d = _one_dim("argsort", input, dim, axis)
    if input.ndim == 0:
        return _int64(0)
    return _int64(_order(input._data, d, descending))


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True, *, axis=None):
    """(values, indices) of the ``k`` largest (or smallest) along ``dim``, in order (also with
    ``sorted=False``, whose order PyTorch leaves unspecified)."""
    d = _one_dim("topk", input, dim, axis)
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: selected index k out of range (k = {k}, dimension {d} of the "
                           f"input of shape {tuple(input.shape)} has size {n})")
    if input.ndim == 0:
        return _topk_ret(input * 1, _int64(0))
    idx = _order(input._data, d, largest)[(slice(None),) * d + (slice(0, k),)]
    return _topk_ret(Topk.apply(input, idx, d), _int64(idx))


def _select(cls, ret, op, input, dim, keepdim, pick):
    """(values, indices) of a reduction that picks one element along ``dim``: ``pick(data, d)``
    gives its index (without ``dim``)."""
    if input.ndim == 0:
        return ret(input * 1, _int64(0))
    if input.shape[dim] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size (input "
                         f"shape {tuple(input.shape)})")
    idx = pick(input._data, dim)
    indices = np.expand_dims(idx, dim) if keepdim else idx
    return ret(cls.apply(input, idx, dim, keepdim), _int64(indices))


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False, *, axis=None, keepdims=None):
    """(values, indices) of the ``k``-th smallest along ``dim`` (k from 1)."""
    dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    d = _dim(dim, input.ndim, "kthvalue")
    n = input.shape[d] if input.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d} (k = "
                           f"{k}, size {n})")

    def pick(data, axis):
        return np.take(_order(data, axis, False), k - 1, axis=axis)
    return _select(Kthvalue, _kthvalue_ret, "kthvalue", input, d, keepdim, pick)


def median(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """``median(x)``: the lower median of all elements (NaN if any is NaN); ``median(x, dim)``:
    (values, indices) along ``dim``, the index of the first NaN where a row has one."""
    dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if dim is None:
        return Median.apply(input, _axes(None, input.ndim, "median"), False, True)
    d = _dim(dim, input.ndim, "median")

    def pick(data, axis):
        order = _order(data, axis, False)
        n = data.shape[axis]
        at = np.full(data.shape[:axis] + data.shape[axis + 1:], (n - 1) // 2)
        if data.dtype.kind in "fc":  # a row with NaN: its first NaN, which sorts after the rest
            at = np.where(np.isnan(data).any(axis=axis), n - np.isnan(data).sum(axis=axis), at)
        return np.take_along_axis(order, np.expand_dims(at, axis), axis).squeeze(axis)
    return _select(MedianDim, _median_ret, "median", input, d, keepdim, pick)


def mode(input, dim: int = -1, keepdim: bool = False, *, axis=None, keepdims=None):
    """(values, indices): the most frequent value along ``dim`` (the smallest of equally
    frequent ones) and the index of its last occurrence."""
    dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    d = _dim(dim, input.ndim, "mode")

    def pick(data, axis):
        order = np.moveaxis(_order(data, axis, False), axis, -1)
        s = np.take_along_axis(np.moveaxis(data, axis, -1), order, -1)
        n = s.shape[-1]
        new = np.ones(s.shape, bool)  # where a run of equal values starts
        new[..., 1:] = s[..., 1:] != s[..., :-1]
        if s.dtype.kind in "fc":  # NaNs count as equal
            new[..., 1:] &= ~(np.isnan(s[..., 1:]) & np.isnan(s[..., :-1]))
        pos = np.arange(n)
        run = pos - np.maximum.accumulate(np.where(new, pos, 0), axis=-1) + 1  # length so far
        end = np.argmax(run == run.max(axis=-1, keepdims=True), axis=-1)  # first longest run's end
        return np.take_along_axis(order, end[..., None], -1)[..., 0]
    return _select(Mode, _mode_ret, "mode", input, d, keepdim, pick)


def unique(input, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim=None):
    """The distinct values, sorted (also with ``sorted=False``, as PyTorch on the CPU); with
    ``return_inverse``, each element's index in them; with ``return_counts``, how often each
    occurs. ``dim``: distinct slices along ``dim``. NaNs are all distinct, as in PyTorch."""
    data = input._data
    if dim is None:
        values, inverse, counts = np.unique(data.reshape(-1), return_inverse=True,
                                            return_counts=True, equal_nan=False)
        inverse = inverse.reshape(data.shape)
    else:
        d = _dim(dim, input.ndim, "unique")
        values, inverse, counts = np.unique(data, return_inverse=True, return_counts=True,
                                            axis=d)
        inverse = inverse.reshape(-1)
    out = Unique.apply(input, values) if input.requires_grad else _make(values, None)
    if not (return_inverse or return_counts):
        return out
    return ((out,) + ((_int64(inverse),) if return_inverse else ())
            + ((_int64(counts),) if return_counts else ()))


# -- cumulative ----------------------------------------------------------------------------------

def _cumulative(cls, op, input, dim, dtype, axis):
    dim = axis if axis is not None else dim
    if dim is None:
        raise TypeError(f"{op}() missing 1 required positional argument: \"dim\"")
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind in "bui":  # integer results are int64, as PyTorch's
        input = input.to(np.int64)
    d = _dim(dim, input.ndim, op)
    if input.ndim == 0:
        return cls.apply(input.reshape(1), 0).reshape(())
    return cls.apply(input, d)


def cumsum(input, dim=None, *, dtype=None, axis=None):
    """y_i = x_0 + ... + x_i along ``dim``."""
    return _cumulative(Cumsum, "cumsum", input, dim, dtype, axis)


def cumprod(input, dim=None, *, dtype=None, axis=None):
    """y_i = x_0 · ... · x_i along ``dim``; its gradient is exact also where x has zeros."""
    return _cumulative(Cumprod, "cumprod", input, dim, dtype, axis)


# -- logical -------------------------------------------------------------------------------------

def _logical_dims(op, input, dim):
    """``dim`` as a tuple of axes (None: all), PyTorch's errors for a bad or repeated dim."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    axes = [_dim(d, input.ndim, op) for d in dims]
    for a in axes:
        if axes.count(a) > 1:
            raise RuntimeError(f"{op}: dim {a} appears multiple times in the list of dims")
    return tuple(axes) if input.ndim else ()


def _logical(fn, op, input, dim, keepdim, axis, keepdims):
    dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    data = input._data
    out = fn(data, axis=_logical_dims(op, input, dim), keepdims=keepdim)
    # a uint8 tensor gives uint8, as in PyTorch
    return _make(np.asarray(out, np.uint8 if data.dtype == np.uint8 else np.bool_), None)


def all(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """True where every element (along ``dim``: an int or a tuple) is nonzero."""
    return _logical(np.all, "all", input, dim, keepdim, axis, keepdims)


def any(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """True where some element (along ``dim``) is nonzero."""
    return _logical(np.any, "any", input, dim, keepdim, axis, keepdims)


def count_nonzero(input, dim=None, *, axis=None):
    """The number of nonzero elements (along ``dim``: an int or a tuple; ``()`` counts all)."""
    dim = axis if axis is not None else dim
    axes = _logical_dims("count_nonzero", input, dim)
    count = np.count_nonzero(input._data, axis=axes or None)
    return _make(np.asarray(count, np.int64), None)


def bincount(input, weights=None, minlength: int = 0):
    """How often each value 0, 1, ..., max(input) occurs in a 1-d tensor of non-negative
    integers (at least ``minlength`` bins); with ``weights``, their sums per bin instead. The
    result's dtype is PyTorch's: int64 without weights, the weights' float dtype (float64 for
    integer weights) with them. Like PyTorch's, it has no derivative for ``weights``."""
    data = input._data
    if data.ndim != 1 or data.dtype.kind not in "iu" or (data.size and data.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is None:
        return _make(np.bincount(data, minlength=minlength).astype(np.int64), None)
    w = weights._data
    if w.ndim != 1 or w.shape != data.shape:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    out = np.bincount(data, weights=w, minlength=minlength)
    out = out.astype(w.dtype if w.dtype.kind == "f" else np.float64)
    return Bincount.apply(weights, out) if weights.requires_grad else _make(out, None)


class Bincount(Function):
    """y = the weights' sums per bin; it has no derivative, as in PyTorch"""

    @staticmethod
    def forward(ctx, weights, sums):
        return sums

    @staticmethod
    def backward(ctx, grad_output):
        raise RuntimeError("bincount: the derivative for weights is not implemented (as in "
                           "PyTorch)")


def _elementwise_logical(ufunc, op, *tensors):
    """A bool tensor: ``ufunc`` of the tensors' truth values (nonzero is True), broadcast."""
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{('input', 'other')[i]}' (position {i + 1}) must "
                            f"be Tensor, not {type(t).__name__}")
    try:
        return _make(ufunc(*(t._data for t in tensors)), None)
    except ValueError:
        raise RuntimeError(f"{op}: the shapes {' and '.join(str(t.shape) for t in tensors)} do "
                           f"not broadcast") from None


def logical_and(input, other):
    return _elementwise_logical(np.logical_and, "logical_and", input, other)


def logical_or(input, other):
    return _elementwise_logical(np.logical_or, "logical_or", input, other)


def logical_xor(input, other):
    return _elementwise_logical(np.logical_xor, "logical_xor", input, other)


def logical_not(input):
    return _elementwise_logical(np.logical_not, "logical_not", input)


from ..tensor import Tensor, _make  # noqa: E402
