"""Activations and the softmax family."""

from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..dtypes import ONE, ZERO
from ._pool import _OUTPUTS_FROM, _empty_like
from .elementwise import Erf, _erf_values


class Tanh(Function):
    """y = tanh(x);  dL/dx = dL/dy * (1 - y**2)"""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * (ONE[y.dtype] - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x));  dL/dx = dL/dy * y * (1 - y)"""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(-np.logaddexp(ZERO[x.dtype], -x))  # no overflow for large |x|
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * y * (ONE[y.dtype] - y)


class ReLU(Function):
    """y = max(x, 0);  dL/dx = dL/dy where y != 0, else 0  (y is never negative: y != 0 is x > 0,
    and also NaN, where PyTorch passes the gradient on)"""

    op = "relu"

    @staticmethod
    def forward(ctx, x):
        if x.nbytes >= _OUTPUTS_FROM and x.dtype.kind == "f" and x.dtype.isnative:  # see _pool
            y = np.maximum(x, 0, out=_empty_like(x))
        else:
            y = np.maximum(x, 0)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return grad_output * (y != 0)


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x;  dL/dx = dL/dy * (1 if x > 0 else slope)"""

    op = "leaky_relu"

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.saved = (x, negative_slope)
        return np.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        x, slope = ctx.saved
        return np.where(x > 0, grad_output, grad_output * slope), None


class GELU(Function):
    """y = x * Φ(x) (Φ the normal CDF; ``approximate='tanh'`` for the tanh form);
    dL/dx = dL/dy * (Φ(x) + x φ(x))"""

    op = "gelu"

    @staticmethod
    def forward(ctx, x, approximate="none"):
        ctx.saved = (x, approximate)
        if approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(_K * (x + 0.044715 * x ** 3)))
        if approximate != "none":
            raise RuntimeError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        return x * (0.5 * (1 + _erf_values(x * _INV_SQRT2)))

    @staticmethod
    def backward(ctx, grad_output):
        x, approximate = ctx.saved
        if approximate == "tanh":
            t = np.tanh(_K * (x + 0.044715 * x ** 3))
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (_K * (1 + 3 * 0.044715 * x * x))
        else:
            d = 0.5 * (1 + Erf.call(x * _INV_SQRT2)) + x * (np.exp(-0.5 * x * x) * _INV_SQRT_2PI)
        return grad_output * d, None


_K = math.sqrt(2 / math.pi)
_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max));  dL/dx = y * (dL/dy - sum(dL/dy * y))"""

    @staticmethod
    def forward(ctx, x, dim):
        e = np.exp(x - x.max(axis=dim, keepdims=True, initial=-np.inf))
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.saved, ctx.dim = (y,), dim
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,), dim = ctx.saved, ctx.dim
        return y * (grad_output - (grad_output * y).sum(axis=dim, keepdims=True)), None


class LogSoftmax(Function):
    """y = x - max - log(sum(exp(x - max)));  dL/dx = dL/dy - softmax(x) * sum(dL/dy)"""

    op = "log_softmax"

    @staticmethod
    def forward(ctx, x, dim):
        shifted = x - x.max(axis=dim, keepdims=True, initial=-np.inf)
        y = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.saved, ctx.dim = (y,), dim
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,), dim = ctx.saved, ctx.dim
        return grad_output - np.exp(y) * grad_output.sum(axis=dim, keepdims=True), None


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyReLU.apply(x, negative_slope)


def gelu(x, approximate: str = "none"):
    return GELU.apply(x, approximate)


def softmax(x, dim: int | None = None, dtype=None):
    """softmax along ``dim``, shifted by the max so that large inputs do not overflow."""
    x = x.to(dtype) if dtype is not None else x
    return Softmax.apply(x, _softmax_dim(x, dim, "softmax"))


def log_softmax(x, dim: int | None = None, dtype=None):
    """log(softmax(x)) along ``dim``, computed stably (log-sum-exp with the max shifted out)."""
    x = x.to(dtype) if dtype is not None else x
    return LogSoftmax.apply(x, _softmax_dim(x, dim, "log_softmax"))


def _softmax_dim(x, dim, op):
    if dim is None:  # PyTorch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    nd = max(x.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of {x.ndim} dimensions")
    return dim % nd if x.ndim else None
