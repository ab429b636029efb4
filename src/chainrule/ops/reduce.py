"""Reductions over ``dim`` (an int, a tuple, or None for all) with ``keepdim``."""

from __future__ import annotations

from collections import namedtuple

import builtins
import math

import numpy as np

from ..autograd.function import Function
from ..dtypes import _ARRAY_OUT

_add_reduce = np.add.reduce


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
    """Put the reduced axes back into ``grad`` and broadcast it to the input's shape."""
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
        shape = inputs[0].data.shape
        if len(inputs) == 1:  # a sum of everything: grad_output is 0-d
            if grad_output.size == math.prod(shape):  # _expand's first case, inlined
                return grad_output.reshape(shape)
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
    """y = max(x) over axes;  dL/dx = dL/dy shared evenly among the maxima (PyTorch's amax)"""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        y = x.max(axis=axes, keepdims=True)
        ctx.saved = (x, y, axes, keepdim)
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    @staticmethod
    def backward(ctx, grad_output):
        x, y, axes, keepdim = ctx.saved
        hit = x == y
        count = hit.sum(axis=axes, keepdims=True)
        g = grad_output if keepdim else np.expand_dims(grad_output, axes)
        return (hit * (g / count)).astype(x.dtype, copy=False), None, None


class Amin(Amax):
    """y = min(x) over axes;  dL/dx = dL/dy shared evenly among the minima"""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        y = x.min(axis=axes, keepdims=True)
        ctx.saved = (x, y, axes, keepdim)
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])


class MaxDim(Function):
    """values = max(x, dim);  dL/dx = dL/dvalues at the index returned, 0 elsewhere"""

    op = "max"

    @staticmethod
    def forward(ctx, x, idx, dim, keepdim):
        idx = np.expand_dims(idx, dim)
        ctx.saved = (x.shape, idx, dim, keepdim)
        y = np.take_along_axis(x, idx, axis=dim)
        return y if keepdim else np.squeeze(y, dim)

    @staticmethod
    def backward(ctx, grad_output):
        shape, idx, dim, keepdim = ctx.saved
        g = np.zeros(shape, grad_output.dtype)
        np.put_along_axis(g, idx, grad_output if keepdim else np.expand_dims(grad_output, dim), axis=dim)
        return g, None, None, None


class MinDim(MaxDim):
    op = "min"


class Var(Function):
    """y = sum((x - mean)**2) / (n - correction);  dL/dx = dL/dy * 2 (x - mean) / (n - correction)"""

    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        n = 1
        for a in axes:
            n *= x.shape[a]
        centered = x - x.mean(axis=axes, keepdims=True)
        denom = builtins.max(n - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = (centered * centered).sum(axis=axes, keepdims=keepdim) / x.dtype.type(denom)
        ctx.saved = (centered, denom, axes, keepdim)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        centered, denom, axes, keepdim = ctx.saved
        g = grad_output if keepdim else np.expand_dims(grad_output, axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * (2 / centered.dtype.type(denom)) * centered, None, None, None


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
        flat = x.reshape(-1) if axis is None else np.moveaxis(x, axis, -1)
        ones = np.ones(flat.shape[:-1] + (1,), x.dtype)
        left = np.cumprod(np.concatenate([ones, flat[..., :-1]], -1), -1)
        right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], -1), -1)[..., ::-1]
        others = left * right  # product of all the other elements
        if axis is None:
            return grad_output.reshape(()) * others.reshape(x.shape), None, None
        g = grad_output if keepdim else np.expand_dims(grad_output, axis)
        return g * np.moveaxis(others, -1, axis), None, None


class LogSumExp(Function):
    """y = log(sum(exp(x)));  dL/dx = dL/dy * softmax(x)"""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        m = x.max(axis=axes, keepdims=True, initial=-np.inf)  # initial: a size-0 axis is fine
        m = np.where(np.isfinite(m), m, 0)
        y = np.log(np.exp(x - m).sum(axis=axes, keepdims=True)) + m
        ctx.saved = (x, y, axes, keepdim)
        return y if keepdim else np.squeeze(y, axes)

    @staticmethod
    def backward(ctx, grad_output):
        x, y, axes, keepdim = ctx.saved
        g = grad_output if keepdim else np.expand_dims(grad_output, axes)
        return g * np.exp(x - y), None, None


# -- functions ----------------------------------------------------------------------------------

_max_ret = namedtuple("max", ["values", "indices"])
_min_ret = namedtuple("min", ["values", "indices"])


def sum(x, dim=None, keepdim: bool = False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    elif x.data.dtype.kind in "bui":  # integer sums are int64, as PyTorch
        x = x.to(np.int64)
    if dim is None and not keepdim:
        return Sum.apply(x)
    return Sum.apply(x, _axes(dim, x.ndim, "sum"), keepdim)


def mean(x, dim=None, keepdim: bool = False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    if x.data.dtype.kind not in "fc":
        raise RuntimeError(f"mean: could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {x.data.dtype}")
    return Mean.apply(x, _axes(dim, x.ndim, "mean"), keepdim)


def amax(x, dim=(), keepdim: bool = False):
    return Amax.apply(x, _axes(dim if dim != () else None, x.ndim, "amax"), keepdim)


def amin(x, dim=(), keepdim: bool = False):
    return Amin.apply(x, _axes(dim if dim != () else None, x.ndim, "amin"), keepdim)


def _reduce_dim(pick, ret, x, dim, keepdim, other, op):
    if isinstance(dim, Tensor):  # max(a, b): the elementwise form
        return other(x, dim)
    if dim is None:
        return (Amax if op == "max" else Amin).apply(x, _axes(None, x.ndim, op), False)
    (axis,) = _axes(dim, x.ndim, op) or (None,)
    if axis is None:  # 0-d
        return ret(x, _make(np.zeros((), np.int64), None))
    if x.shape[axis] == 0:
        raise IndexError(f"{op}: expected reduction dim {dim} to have non-zero size")
    idx = pick(x.data, axis=axis)
    values = (MaxDim if op == "max" else MinDim).apply(x, idx, axis, keepdim)
    indices = np.expand_dims(idx, axis) if keepdim else idx
    return ret(values, _make(indices.astype(np.int64, copy=False), None))


def max(x, dim=None, keepdim: bool = False):
    """``max(x)``: the largest value; ``max(x, dim)``: (values, indices); ``max(x, y)``: maximum."""
    from .elementwise import maximum
    return _reduce_dim(np.argmax, _max_ret, x, dim, keepdim, maximum, "max")


def min(x, dim=None, keepdim: bool = False):
    from .elementwise import minimum
    return _reduce_dim(np.argmin, _min_ret, x, dim, keepdim, minimum, "min")


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Variance; ``correction=1`` (Bessel's, the default) divides by n - 1, as PyTorch."""
    if isinstance(dim, bool):  # var(x, False): the old positional `unbiased`
        dim, unbiased = None, dim
    return Var.apply(x, _axes(dim, x.ndim, "var"), _correction(unbiased, correction), keepdim)


def std(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    return var(x, dim, unbiased, keepdim, correction=correction).sqrt()


def prod(x, dim=None, keepdim: bool = False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    axis = None if dim is None or x.ndim == 0 else _axes(dim, x.ndim, "prod")[0]
    return Prod.apply(x, axis, keepdim)


def logsumexp(x, dim, keepdim: bool = False):
    return LogSumExp.apply(x, _axes(dim, x.ndim, "logsumexp"), keepdim)


def argmax(x, dim=None, keepdim: bool = False):
    return _arg(np.argmax, x, dim, keepdim)


def argmin(x, dim=None, keepdim: bool = False):
    return _arg(np.argmin, x, dim, keepdim)


def _arg(fn, x, dim, keepdim):
    if dim is None:
        out = fn(x.data.reshape(-1))
        return _make(np.asarray(out, np.int64).reshape((1,) * x.ndim if keepdim else ()), None)
    (axis,) = _axes(dim, x.ndim, fn.__name__)
    return _make(fn(x.data, axis=axis, keepdims=keepdim).astype(np.int64), None)


from ..tensor import Tensor, _make  # noqa: E402
