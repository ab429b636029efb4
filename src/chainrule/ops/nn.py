"""Fused layer ops: linear, dropout, batch norm. Each is one node, with a closed-form backward."""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..random import _rng


class Linear(Function):
    """y = x @ Wᵀ + b;  dL/dx = dL/dy @ W,  dL/dW = (dL/dy)ᵀ @ x,  dL/db = Σ_batch dL/dy
    (leading batch dims of x are flattened into one)"""

    op = "linear"
    needed_by = (1, 0)  # x serves W's gradient, W serves x's

    @staticmethod
    def forward(ctx, x, weight, bias):
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            got = x.shape[-1] if x.ndim else "no"
            raise RuntimeError(f"linear: input has {got} features but weight expects "
                               f"{weight.shape[-1]} (weight shape {weight.shape}, input shape "
                               f"{x.shape})")
        if bias is not None and bias.shape not in ((weight.shape[0],), ()):
            raise RuntimeError(f"linear: bias of shape {bias.shape} does not match weight of "
                               f"shape {weight.shape} (expected ({weight.shape[0]},))")
        ctx.saved = (x, weight)
        if x.ndim == 2:
            y = x @ weight.T  # a transposed view: BLAS reads it as is, no copy
        else:
            y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(x.shape[:-1] + weight.shape[:1])
        if bias is not None:
            if bias.dtype == y.dtype:
                y += bias
            else:
                y = y + bias
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved
        shape = x.shape
        need = ctx.needs_input_grad
        g = grad_output if grad_output.ndim == 2 else grad_output.reshape(-1, grad_output.shape[-1])
        grad_x = grad_w = grad_b = None
        if need[0]:
            grad_x = g @ weight
            if len(shape) != 2:
                grad_x = grad_x.reshape(shape)
        if need[1]:
            grad_w = g.T @ (x if len(shape) == 2 else x.reshape(-1, shape[-1]))
        if need[2]:
            grad_b = np.add.reduce(g, axis=0)
        return grad_x, grad_w, grad_b


class Dropout(Function):
    """y = x * mask  (mask 0 or 1/(1-p));  dL/dx = dL/dy * mask"""

    op = "dropout"

    @staticmethod
    def forward(ctx, x, mask):
        ctx.saved = (mask,)
        return x * mask

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved
        return grad_output * mask, None


class BatchNorm(Function):
    """y = γ x̂ + β,  x̂ = (x - μ) / √(σ² + ε)  (μ, σ² per channel: over every axis but 1);
    training: dL/dx = γ/√(σ² + ε) · (g - mean(g) - x̂ mean(g x̂)); eval: dL/dx = γ g / √(σ² + ε);
    dL/dγ = Σ g x̂,  dL/dβ = Σ g  (g = dL/dy)"""

    op = "batch_norm"

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, training=False, momentum=0.1,
                eps=1e-5):
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if training:
            n = x.size // x.shape[1]
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(shape)
            var = np.square(xc).mean(axis=axes)  # biased: the one used to normalise
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:  # the running estimate uses the unbiased variance
                running_var *= 1 - momentum
                running_var += (momentum * n / (n - 1)) * var
        else:
            mean, var = running_mean, running_var
            xc = x - mean.reshape(shape)
        invstd = 1 / np.sqrt(var + eps)
        xhat = xc * invstd.reshape(shape).astype(xc.dtype, copy=False)
        y = xhat * weight.reshape(shape) if weight is not None else xhat.copy()
        if bias is not None:
            y += bias.reshape(shape)
        ctx.saved = (xhat, invstd, weight)
        ctx.training, ctx.axes, ctx.shape = training, axes, shape  # metadata outside saved
        if not training:  # the statistics used, as they were (the running ones change later)
            ctx.stats = (mean.copy(), invstd.reshape(shape).astype(x.dtype, copy=False))
        return y

    @staticmethod
    def composite(ctx, x, running_mean, running_var, weight, bias, training=False, momentum=0.1,
                  eps=1e-5):
        """The same normalisation in primitive ops: what ``create_graph=True`` differentiates."""
        axes, shape = ctx.axes, ctx.shape
        if training:
            xc = x - x.mean(dim=axes, keepdim=True)
            y = xc * ((xc * xc).mean(dim=axes, keepdim=True) + eps) ** -0.5
        else:
            mean, invstd = ctx.stats
            y = (x - mean.reshape(shape)) * invstd
        if weight is not None:
            y = y * weight.reshape(shape)
        if bias is not None:
            y = y + bias.reshape(shape)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        xhat, invstd, weight = ctx.saved
        training, axes, shape = ctx.training, ctx.axes, ctx.shape
        need = ctx.needs_input_grad
        g = grad_output
        sum_g = g.sum(axis=axes) if need[4] or (need[0] and training) else None
        sum_gx = (g * xhat).sum(axis=axes) if need[3] or (need[0] and training) else None
        grad_x = None
        if need[0]:
            scale = invstd if weight is None else invstd * weight
            scale = scale.reshape(shape).astype(g.dtype, copy=False)
            if training:
                n = g.size // g.shape[1]
                mean_g, mean_gx = (sum_g / n).reshape(shape), (sum_gx / n).reshape(shape)
                grad_x = (g - mean_g - xhat * mean_gx) * scale
            else:
                grad_x = g * scale
        return (grad_x, None, None, sum_gx if need[3] else None, sum_g if need[4] else None)


# -- functions ---------------------------------------------------------------------------------

def linear(input, weight, bias=None):
    """y = input @ weight.T + bias: input (*, in_features), weight (out_features, in_features),
    bias (out_features,); one fused node."""
    return Linear.apply(input, weight, bias)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    1/(1-p), so that the expectation is unchanged; the identity when not ``training``.
    The mask comes from the global generator (``cr.manual_seed``). ``inplace`` is accepted
    for PyTorch's signature; the result is always a new tensor."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    dtype = input.dtype if input.dtype.kind == "f" else np.dtype(np.float32)
    if p == 1.0:
        mask = np.zeros(input.shape, dtype)
    else:
        keep = 1.0 - p
        draw_dtype = np.float64 if dtype == np.float64 else np.float32
        draw = _rng(generator).random(input.shape, dtype=draw_dtype)
        mask = (draw < keep) * np.asarray(1.0 / keep, dtype)
    return Dropout.apply(input, mask)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Normalise each channel (axis 1) of ``input`` (N, C, *) to zero mean and unit variance, then
    scale by ``weight`` and shift by ``bias``. In training, the batch statistics are used and the
    running ones updated in place: ``running = (1 - momentum) * running + momentum * batch`` (the
    unbiased batch variance for ``running_var``); otherwise the running statistics are used."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dimensions (N, C, ...), "
                         f"got shape {input.shape}")
    c = input.shape[1]
    if training and input.numel() // c <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got "
                         f"input of shape {input.shape}")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var are needed when not training")
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise RuntimeError(f"batch_norm: {name} should have shape ({c},) for input of shape "
                               f"{input.shape}, got {t.shape}")
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, training=training,
                           momentum=momentum, eps=eps)
