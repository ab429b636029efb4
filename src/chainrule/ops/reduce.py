"""Reductions over ``dim`` (an int, a tuple, or None for all) with ``keepdim``."""

from __future__ import annotations

from collections import namedtuple

import builtins
import math

import numpy as np

from ..autograd.function import Function
from ..dtypes import _ARRAY_OUT, ONE
from .index import AddAlongDim, TakeAlongDim  # noqa: F401  (max(dim)'s adjoint; np.take_along_axis)

_add_reduce = np.add.reduce
_ndarray = np.ndarray


def _axes(dim, ndim, op):
    """Normalise ``dim`` to a sorted tuple of non-negative axes (None: all axes)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    n = builtins.max(ndim, 1)
    out = []
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor of {ndim} dimensions "
                             f"(expected a dim in [{-n}, {n - 1}])")
        out.append(d % n)
    return tuple(sorted(set(out))) if ndim else ()


def _expand(grad, shape, axes, keepdim):
    """Put the reduced axes back into ``grad`` and broadcast it to the input's shape (for a
    Tensor, recorded: a reshape and an expand, whose backward is a sum again)."""
    if isinstance(grad, Tensor):
        if not keepdim and axes:  # (Tensor.reshape, not np.expand_dims: NumPy's function would
            # return an array for a gradient that needs none, e.g. the seed of grad(y.sum(1).sum()))
            grad = grad.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
        return grad.expand(*shape) if grad.shape != shape else grad
    n = math.prod(shape)
    if grad.size == n:  # every reduced axis had length 1: only the shape changes
        return grad.reshape(shape)
    if n <= _SMALL:  # small: filling a copy costs less than making a view
        out = np.empty(shape, grad.dtype)
        if grad.size == 1:
            out.fill(grad.item())
        else:
            out[...] = grad if keepdim or not axes else np.expand_dims(grad, axes)
        return out
    if not keepdim and axes:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape)


_SMALL = 4096


class Sum(Function):
    """y = sum(x);  dL/dx = dL/dy broadcast back over the summed axes

    ``Sum.apply(x)`` sums everything (the one-input call is the cheapest: ``loss.sum()`` is
    common on small tensors); ``Sum.apply(x, axes, keepdim)`` sums over ``axes``."""

    @staticmethod
    def forward(ctx, x, axes=None, keepdim=False):
        if axes is not None:
            ctx.axes, ctx.keepdim = axes, keepdim
        # what x.sum() runs; with out=... (NumPy >= 2.3) a full sum is a 0-d array, not a scalar
        return _add_reduce(x, axes, keepdims=keepdim, out=_ARRAY_OUT)

    @staticmethod
    def backward(ctx, grad_output):
        inputs = ctx.inputs
        shape = inputs[0]._data.shape
        if len(inputs) == 1:  # a sum of everything: grad_output is 0-d
            if type(grad_output) is _ndarray and grad_output.size == math.prod(shape):
                return grad_output.reshape(shape)  # _expand's first case, inlined
            return _expand(grad_output, shape, (), True)
        return _expand(grad_output, shape, ctx.axes, ctx.keepdim), None, None


class Mean(Function):
    """y = sum(x) / n;  dL/dx = dL/dy / n, broadcast back"""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad_output):
        shape, axes, keepdim = ctx.shape, ctx.axes, ctx.keepdim
        n = 1
        for a in axes:
            n *= shape[a]
        return _expand(grad_output / n if n else grad_output, shape, axes, keepdim), None, None


class Amax(Function):
    """y = max(x) over axes;  dL/dx = dL/dy shared evenly among the maxima (PyTorch's amax;
    ``evenly_nan``: where the max is NaN, shared among the NaNs, as PyTorch's ``max()``)"""

    pick = staticmethod(np.max)

    @classmethod
    def forward(cls, ctx, x, axes, keepdim, evenly_nan=False):
        y = cls.pick(x, axis=axes, keepdims=True)
        ctx.saved = (x, y, axes, keepdim, evenly_nan)
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    @staticmethod
    def backward(ctx, grad_output):
        x, y, axes, keepdim, evenly_nan = ctx.saved  # y: the max, keeping the reduced axes
        hit = x == y
        if evenly_nan:
            hit = hit | (np.isnan(x) & np.isnan(y))
        count = hit.sum(axis=axes, keepdims=True)
        g = grad_output if keepdim else np.expand_dims(grad_output, axes)
        return hit * (g / count), None, None, None


class Amin(Amax):
    """y = min(x) over axes;  dL/dx = dL/dy shared evenly among the minima"""

    pick = staticmethod(np.min)


class MaxDim(Function):
    """values = max(x, dim);  dL/dx = dL/dvalues at the index returned, 0 elsewhere"""

    op = "max"

    @staticmethod
    def forward(ctx, x, idx, dim, keepdim):
        idx = np.expand_dims(idx, dim)
        ctx.shape, ctx.idx = x.shape, idx
        y = np.take_along_axis(x, idx, axis=dim)
        return y if keepdim else np.squeeze(y, dim)

    @staticmethod
    def backward(ctx, grad_output):
        _, _, dim, keepdim = ctx.inputs
        g = grad_output if keepdim else np.expand_dims(grad_output, dim)
        return AddAlongDim.call(g, ctx.idx, dim, ctx.shape), None, None, None


class MinDim(MaxDim):
    op = "min"


def _variance(ctx, x, axes, correction, keepdim):
    """Σ (x − mean)² / (n − correction) over ``axes``; the divisor is kept on ``ctx``."""
    n = 1
    for a in axes:
        n *= x.shape[a]
    centered = x - x.mean(axis=axes, keepdims=True)
    ctx.denom = denom = builtins.max(n - correction, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (centered * centered).sum(axis=axes, keepdims=keepdim) / x.dtype.type(denom)


class Var(Function):
    """y = sum((x - mean)**2) / (n - correction);  dL/dx = dL/dy * 2 (x - mean) / (n - correction)"""

    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        y = _variance(ctx, x, axes, correction, keepdim)
        ctx.saved = (x,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        _, axes, _, keepdim = ctx.inputs
        g = grad_output if keepdim else np.expand_dims(grad_output, axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = 2 / x.dtype.type(ctx.denom)
            return g * scale * (x - x.mean(axis=axes, keepdims=True)), None, None, None


class Std(Function):
    """y = sqrt(var(x));  dL/dx = dL/dy (x - mean) / ((n - correction) y), and 0 where y = 0
    (a constant input: PyTorch's rule, where sqrt's own derivative would be infinite)"""

    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        y = np.sqrt(_variance(ctx, x, axes, correction, keepdim))
        ctx.saved = (x, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved
        _, axes, _, keepdim = ctx.inputs
        if not keepdim:
            grad_output, y = np.expand_dims(grad_output, axes), np.expand_dims(y, axes)
        zero = y == 0
        safe = np.where(zero, 1, y)  # (a finite divisor: a gradient of this gradient stays 0 too)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = grad_output * (x - x.mean(axis=axes, keepdims=True)) / (x.dtype.type(ctx.denom) * safe)
        return np.where(zero, 0, g), None, None, None


class Prod(Function):
    """y = prod(x);  dL/dx_i = dL/dy * prod_{j != i} x_j  (exact also where some x_j = 0)"""

    @staticmethod
    def forward(ctx, x, axis, keepdim):
        ctx.saved = (x, axis, keepdim)
        if axis is None:
            return np.asarray(x.prod()).reshape((1,) * x.ndim if keepdim else ())
        return x.prod(axis=axis, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad_output):
        x, axis, keepdim = ctx.saved
        if axis is None:
            flat = x.reshape(-1)
            return grad_output.reshape(()) * _others(flat, 0).reshape(x.shape), None, None
        g = grad_output if keepdim else np.expand_dims(grad_output, axis)
        return g * _others(x, axis), None, None


def _others(x, axis):
    """Along ``axis``, the product of all the other elements: without dividing, so exact where
    some are 0. On arrays: prefix products times suffix products. On Tensors (a recorded
    backward): each row with its own element set to 1, multiplied out by Prod itself, so that
    the result can be differentiated again."""
    n = x.shape[axis]
    if type(x) is np.ndarray:
        if n == 0:
            return np.ones(x.shape, x.dtype)
        flat = np.moveaxis(x, axis, -1)
        ones = np.ones(flat.shape[:-1] + (1,), x.dtype)
        left = np.cumprod(np.concatenate([ones, flat[..., :-1]], -1), -1)
        right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], -1), -1)[..., ::-1]
        return np.moveaxis(left * right, -1, axis)
    rows = np.moveaxis(x, axis, -1)  # (..., n)
    square = np.expand_dims(rows, -2).expand(*rows.shape[:-1], n, n)  # [..., i, j] = x_j
    others = np.where(np.eye(n, dtype=bool), ONE[x.dtype], square).prod(dim=-1)
    return np.moveaxis(others, -1, axis)


class LogSumExp(Function):
    """y = log(sum(exp(x)));  dL/dx = dL/dy * softmax(x) = dL/dy * exp(x - y)"""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        m = x.max(axis=axes, keepdims=True, initial=-np.inf)  # initial: a size-0 axis is fine
        m = np.where(np.isfinite(m), m, 0)
        y = np.log(np.exp(x - m).sum(axis=axes, keepdims=True)) + m
        y = y if keepdim else np.squeeze(y, axes)
        ctx.saved = (x, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved
        _, axes, keepdim = ctx.inputs
        if not keepdim:
            grad_output, y = np.expand_dims(grad_output, axes), np.expand_dims(y, axes)
        return grad_output * np.exp(x - y), None, None


# -- functions ----------------------------------------------------------------------------------

_max_ret = namedtuple("max", ["values", "indices"])
_min_ret = namedtuple("min", ["values", "indices"])


# Each takes NumPy's spellings too (axis=, keepdims=), as PyTorch does.

def sum(x, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    elif x._data.dtype.kind in "bui":  # integer sums are int64, as PyTorch
        x = x.to(np.int64)
    if dim is None and not keepdim:
        return Sum.apply(x)
    return Sum.apply(x, _axes(dim, x.ndim, "sum"), keepdim)


def mean(x, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    if x._data.dtype.kind not in "fc":
        raise RuntimeError(f"mean: could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {x._data.dtype}")
    return Mean.apply(x, _axes(dim, x.ndim, "mean"), keepdim)


def amax(x, dim=(), keepdim: bool = False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return Amax.apply(x, _axes(dim if dim != () else None, x.ndim, "amax"), keepdim, False)


def amin(x, dim=(), keepdim: bool = False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return Amin.apply(x, _axes(dim if dim != () else None, x.ndim, "amin"), keepdim, False)


def _numpy_names(dim, keepdim, axis, keepdims):
    """dim and keepdim, given NumPy's names for them (axis, keepdims)."""
    return (axis if axis is not None else dim), (keepdims if keepdims is not None else keepdim)


def _reduce_dim(pick, ret, x, dim, keepdim, other, op):
    if isinstance(dim, Tensor):  # max(a, b): the elementwise form
        return other(x, dim)
    if dim is None:  # where the max is NaN, the gradient is shared among the NaNs (PyTorch)
        return (Amax if op == "max" else Amin).apply(x, _axes(None, x.ndim, op), False, True)
    (axis,) = _axes(dim, x.ndim, op) or (None,)
    if axis is None:  # 0-d
        return ret(x, _make(np.zeros((), np.int64), None))
    if x.shape[axis] == 0:
        raise IndexError(f"{op}: expected reduction dim {dim} to have non-zero size")
    idx = pick(x._data, axis=axis)
    values = (MaxDim if op == "max" else MinDim).apply(x, idx, axis, keepdim)
    indices = np.expand_dims(idx, axis) if keepdim else idx
    return ret(values, _make(indices.astype(np.int64, copy=False), None))


def max(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """``max(x)``: the largest value; ``max(x, dim)``: (values, indices); ``max(x, y)``: maximum."""
    from .elementwise import maximum
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return _reduce_dim(np.argmax, _max_ret, x, dim, keepdim, maximum, "max")


def min(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    from .elementwise import minimum
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return _reduce_dim(np.argmin, _min_ret, x, dim, keepdim, minimum, "min")


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None,
        keepdims=None):
    """Variance; ``correction=1`` (Bessel's, the default) divides by n - 1, as PyTorch."""
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if isinstance(dim, bool):  # var(x, False): the old positional `unbiased`
        dim, unbiased = None, dim
    return Var.apply(x, _axes(dim, x.ndim, "var"), _correction(unbiased, correction), keepdim)


def std(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None,
        keepdims=None):
    """Standard deviation (one op: its gradient is 0, not NaN, for a constant input)."""
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    return Std.apply(x, _axes(dim, x.ndim, "std"), _correction(unbiased, correction), keepdim)


def prod(x, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    axis = None if dim is None or x.ndim == 0 else _axes(dim, x.ndim, "prod")[0]
    return Prod.apply(x, axis, keepdim)


def logsumexp(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return LogSumExp.apply(x, _axes(dim, x.ndim, "logsumexp"), keepdim)


def argmax(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return _arg(np.argmax, x, dim, keepdim)


def argmin(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return _arg(np.argmin, x, dim, keepdim)


def _arg(fn, x, dim, keepdim):
    if dim is None:
        out = fn(x._data.reshape(-1))
        return _make(np.asarray(out, np.int64).reshape((1,) * x.ndim if keepdim else ()), None)
    (axis,) = _axes(dim, x.ndim, fn.__name__)
    return _make(fn(x._data, axis=axis, keepdims=keepdim).astype(np.int64), None)


from ..tensor import Tensor, _make  # noqa: E402
