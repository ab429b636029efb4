"""Fused layer ops: linear, dropout, batch norm, layer norm, embedding. Each is one node, with a
closed-form backward; the norms also name their composite (``create_graph=True``). Group and
instance norm are a layer norm of a reshaped input."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..autograd.function import Function
from ..autograd.versions import bump
from ..random import _rng
from ._pool import _scratch
from .shape import IndexAdd


class Linear(Function):
    """y = x @ Wᵀ + b;  dL/dx = dL/dy @ W,  dL/dW = (dL/dy)ᵀ @ x,  dL/db = Σ_batch dL/dy
    (leading batch dims of x are flattened into one)"""

    op = "linear"
    needed_by = (1, 0)  # x serves W's gradient, W serves x's

    @staticmethod
    def forward(ctx, x, weight, bias):
        if x.dtype is not weight.dtype:  # (one comparison when they agree: W1's hot path)
            _check_linear_dtypes(x, weight, bias)
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
            if bias.dtype is y.dtype:
                y += bias
            else:
                _check_linear_dtypes(x, weight, bias)
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


class LayerNorm(Function):
    """y = x̂ γ + β,  x̂ = (x - μ) / √(σ² + ε)  (μ, σ² over the last ``ndim`` axes, σ² biased);
    dL/dx = (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)) / √(σ² + ε) with ĝ = g γ;  dL/dγ = Σ g x̂,  dL/dβ = Σ g
    (Σ over the leading axes; g = dL/dy)"""

    op = "layer_norm"
    needed_by = (None, 0)  # x serves every gradient, γ only x's

    @staticmethod
    def forward(ctx, x, weight, bias, ndim, eps):
        # As rows (B, D), D the normalised elements: the row means and row dot products are then
        # matrix-vector products, BLAS's speed; the big temporaries come from the pool.
        d = math.prod(x.shape[x.ndim - ndim:])
        rows = x.reshape(-1, d)
        mean = (rows @ np.ones(d, x.dtype))[:, None] / x.dtype.type(d)
        y = _scratch(rows.shape, x.dtype)
        np.subtract(rows, mean, out=y)
        rstd = _row_dot(y, y)
        rstd /= d
        rstd += eps
        np.sqrt(rstd, out=rstd)
        np.divide(1, rstd, out=rstd)
        y *= rstd
        if weight is not None:
            y *= weight.reshape(-1)
        if bias is not None:
            y += bias.reshape(-1)
        # the input, as PyTorch saves it (x̂ is recomputed in backward): the output is not kept,
        # so an in-place op on it (a ReLU after a GroupNorm) stays legal
        ctx.saved = (x, weight)
        ctx.axes, ctx.mean, ctx.rstd = tuple(range(x.ndim - ndim, x.ndim)), mean, rstd
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved
        need, mean, rstd = ctx.needs_input_grad, ctx.mean, ctx.rstd
        wshape = x.shape[x.ndim - len(ctx.axes):]
        d = math.prod(wshape)
        rows, g = x.reshape(-1, d), grad_output.reshape(-1, d)
        xhat = _scratch(rows.shape, rows.dtype)
        np.subtract(rows, mean, out=xhat)
        xhat *= rstd
        grad_x = grad_w = grad_b = None
        if need[1]:
            grad_w = np.einsum("ij,ij->j", g, xhat).reshape(wshape)
        if need[2]:
            grad_b = g.sum(axis=0).reshape(wshape)
        if need[0]:
            grad_x = g * weight.reshape(-1) if weight is not None else g.copy()  # ĝ
            mean_g = (grad_x @ np.ones(d, grad_x.dtype))[:, None] / grad_x.dtype.type(d)
            mean_gx = _row_dot(grad_x, xhat)
            mean_gx /= d
            grad_x -= mean_g
            xhat *= mean_gx
            grad_x -= xhat
            grad_x *= rstd
            grad_x = grad_x.reshape(x.shape)
        return grad_x, grad_w, grad_b, None, None

    @staticmethod
    def composite(ctx, x, weight, bias, ndim, eps):
        """The same normalisation in primitive ops: what ``create_graph=True`` differentiates."""
        axes = ctx.axes
        xc = x - x.mean(dim=axes, keepdim=True)
        y = xc * ((xc * xc).mean(dim=axes, keepdim=True) + eps) ** -0.5
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return y


def _row_dot(a, b):
    """Σ_j a[i, j] b[i, j] for each row i of two (B, D) arrays, as (B, 1)."""
    return np.matmul(a[:, None, :], b[:, :, None])[:, :, 0]


class Embedding(Function):
    """y = weight[indices], a row per index;  dL/dweight = dL/dy added into the rows of the
    indices (none into ``padding_idx``'s; each divided by its index's count in the batch with
    ``scale_grad_by_freq``)"""

    op = "embedding"

    @staticmethod
    def forward(ctx, weight, indices, padding_idx, scale_grad_by_freq):
        ctx.indices = indices
        ctx.saved = (indices,)  # for backward's version check: changed indices are caught
        return weight[indices]

    @staticmethod
    def backward(ctx, grad_output):
        weight, _, padding_idx, scale_grad_by_freq = ctx.inputs
        idx, g = ctx.indices, grad_output
        if padding_idx is not None or scale_grad_by_freq:
            scale = np.ones(idx.shape, g.dtype)
            if scale_grad_by_freq:
                scale /= np.bincount(idx.reshape(-1))[idx]
            if padding_idx is not None:
                scale[idx == padding_idx] = 0
            g = g * scale[..., None]
        return IndexAdd.call(g, weight.shape, idx), None, None, None


# -- dtypes: a layer's parameters and its input must agree, as in PyTorch ----------------------

_TORCH_NAMES = {  # NumPy's name -> PyTorch's scalar type name, and its C++ name
    "float16": ("Half", "c10::Half"), "float32": ("Float", "float"),
    "float64": ("Double", "double"),
    "int64": ("Long", "long int"), "int32": ("Int", "int"), "int16": ("Short", "short int"),
    "int8": ("Char", "signed char"), "uint8": ("Byte", "unsigned char"), "bool": ("Bool", "bool"),
    "complex64": ("ComplexFloat", "c10::complex<float>"),
    "complex128": ("ComplexDouble", "c10::complex<double>")}


def torch_name(dtype, cpp: bool = False) -> str:
    """PyTorch's name of a dtype, as its errors print it: Double (or double with ``cpp``)."""
    dtype = np.dtype(dtype)
    names = _TORCH_NAMES.get(dtype.name)
    return names[cpp] if names else dtype.name


def _cast(dtype) -> str:
    dtype = np.dtype(dtype)
    return {"float32": ".float()", "float64": ".double()", "float16": ".half()"}.get(
        dtype.name, f".to(chainrule.{dtype.name})")


def dtype_error(op: str, message: str, input, name: str, other, error=RuntimeError):
    """The error of a layer whose input and parameter ``name`` differ in dtype: PyTorch's
    ``message``, then the dtypes and shapes, and how to make them agree."""
    fix = f"convert the input with {_cast(other.dtype)}"
    if input.dtype.kind == "f" and other.dtype.kind == "f":
        fix += f" (or the layer with {_cast(input.dtype)})"
    return error(f"{op}: {message}: input {input.dtype} of shape {tuple(input.shape)}, {name} "
                 f"{other.dtype} of shape {tuple(other.shape)}; {fix}")


def _check_linear_dtypes(x, weight, bias):
    """linear's dtype errors, PyTorch's words: its matmul's, or its addmm's with a bias."""
    if x.dtype != weight.dtype:
        if bias is None:
            raise dtype_error("linear", f"expected m1 and m2 to have the same dtype, but got: "
                                        f"{torch_name(x.dtype, True)} != "
                                        f"{torch_name(weight.dtype, True)}", x, "weight", weight)
        raise dtype_error("linear", f"mat1 and mat2 must have the same dtype, but got "
                                    f"{torch_name(x.dtype)} and {torch_name(weight.dtype)}", x,
                          "weight", weight)
    if bias is not None and bias.dtype != weight.dtype:
        raise dtype_error("linear", f"self and mat2 must have the same dtype, but got "
                                    f"{torch_name(bias.dtype)} and {torch_name(weight.dtype)}", x,
                          "bias", bias)


_MIXED = "mixed dtype (CPU): all inputs must share same datatype."


def check_norm_dtypes(op: str, kernel: str, input, params: dict, int_mixed: bool = False) -> bool:
    """A normalisation's dtype rules, as PyTorch's CPU kernels: the parameters (and running
    statistics) have the input's dtype, or all float32 for a float16 input; an integer input
    raises (a RuntimeError where ``int_mixed`` and parameters are given, as layer_norm's).
    Returns True for a float16 input with float32 parameters (normalised in float32)."""
    given = [(k, v) for k, v in params.items() if v is not None]
    if input.dtype.kind not in "fc":
        if given and int_mixed:
            raise dtype_error(op, _MIXED, input, *given[0])
        raise NotImplementedError(f'{op}: "{kernel}" not implemented for '
                                  f"'{torch_name(input.dtype)}' (input of shape "
                                  f"{tuple(input.shape)}): convert the input with .float()")
    if all(t.dtype == input.dtype for _, t in given):
        return False
    if input.dtype == np.float16 and all(t.dtype == np.float32 for _, t in given):
        return True
    name, other = next((n, t) for n, t in given if t.dtype != input.dtype)
    if any(t.dtype == input.dtype for _, t in given):  # some agree with the input, others not
        raise dtype_error(op, f"expected scalar type {torch_name(input.dtype)} but found "
                              f"{torch_name(other.dtype)}", input, name, other)
    raise dtype_error(op, _MIXED, input, name, other)


# -- functions ---------------------------------------------------------------------------------

def linear(input, weight, bias=None):
    """y = input @ weight.T + bias: input (*, in_features), weight (out_features, in_features),
    bias (out_features,); one fused node."""
    return Linear.apply(input, weight, bias)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    1/(1-p), so that the expectation is unchanged; the identity when not ``training``.
    The mask comes from the global generator (``cr.manual_seed``). ``inplace=True`` writes the
    result into ``input`` (recorded like ``x.relu_()``)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    return _dropped(input, input.shape, p, generator, inplace)


def _dropped(input, shape, p, generator, inplace=False, op="dropout"):
    """input times a mask of ``shape`` (input's, or broadcast to it: one draw per channel) of
    zeros, with probability p, and 1/(1-p); written into ``input`` if ``inplace``."""
    dtype = input.dtype
    if dtype.kind != "f" and p != 1.0:  # PyTorch's words: its 1/(1-p) is a float
        raise RuntimeError(f"{op}: result type Float can't be cast to the desired output "
                           f"type {torch_name(dtype)} (input of shape {tuple(input.shape)}); "
                           "convert the input with .float()")
    if p == 1.0:
        mask = np.zeros(shape, dtype)
    else:
        keep = 1.0 - p
        draw_dtype = np.float64 if dtype == np.float64 else np.float32
        draw = _rng(generator).random(shape, dtype=draw_dtype)
        mask = (draw < keep) * np.asarray(1.0 / keep, dtype)
    if inplace:
        from .._methods import _inplace_method  # (_methods imports this module)
        return _inplace_method("dropout_", Dropout.apply)(input, mask)
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
    if check_norm_dtypes("batch_norm", "batch_norm", input, dict(
            running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)):
        return batch_norm(input.to(np.float32), running_mean, running_var, weight, bias, training,
                          momentum, eps).to(np.float16)
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, training=training,
                           momentum=momentum, eps=eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalise over the last dimensions, ``normalized_shape``, of ``input`` (*, *normalized_shape)
    to zero mean and unit variance (biased), then scale by ``weight`` and shift by ``bias`` (both
    of ``normalized_shape``), as ``torch.nn.functional.layer_norm``; one fused node."""
    op = "layer_norm"
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(
        normalized_shape)
    if not shape or input.ndim < len(shape) or tuple(input.shape[-len(shape):]) != shape:
        raise RuntimeError(f"{op}: Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size"
                           f"{list(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"{op}: Expected {name} to be of same shape as normalized_shape, "
                               f"but got {name} of shape {list(t.shape)} and normalized_shape = "
                               f"{list(shape)}")
    if check_norm_dtypes(op, "LayerNormKernelImpl", input, dict(weight=weight, bias=bias),
                         int_mixed=True):
        return layer_norm(input.to(np.float32), shape, weight, bias, eps).to(np.float16)
    return LayerNorm.apply(input, weight, bias, len(shape), eps)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalise each group of ``num_groups`` consecutive channels of ``input`` (N, C, *) over its
    channels and positions, then scale and shift each channel by ``weight`` and ``bias`` (C,), as
    ``torch.nn.functional.group_norm``: a layer norm of input viewed as (N, groups, -1)."""
    op = "group_norm"
    if input.ndim < 2:
        raise RuntimeError(f"{op}: Expected at least 2 dimensions for input tensor but received "
                           f"{input.ndim}")
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"{op}: Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"{op}: Expected {name} to be a vector of size equal to the number "
                               f"of channels in input, but got {name} of shape {list(t.shape)} "
                               f"and input of shape {list(input.shape)}")
    if n * c // num_groups * int(np.prod(input.shape[2:])) == 1:
        raise ValueError(f"{op}: Expected more than 1 value per channel when training, got input "
                         f"size {[n * c // num_groups, num_groups] + list(input.shape[2:])}")
    if check_norm_dtypes(op, "GroupNormKernelImpl", input, dict(weight=weight, bias=bias),
                         int_mixed=True):
        return group_norm(input.to(np.float32), num_groups, weight, bias, eps).to(np.float16)
    per_group = c // num_groups * int(np.prod(input.shape[2:]))  # (not -1: N may be 0)
    y = LayerNorm.apply(input.reshape(n, num_groups, per_group), None, None, 1,
                        eps).reshape(input.shape)
    return _affine(y, weight, bias)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5):
    """Normalise each channel of each sample of ``input`` (N, C, *) over its positions, then scale
    and shift each channel by ``weight`` and ``bias`` (C,), as
    ``torch.nn.functional.instance_norm``. With ``use_input_stats`` the running statistics, if
    given, move towards the batch's mean of the per-sample ones (unbiased variances); without it
    they normalise (as batch_norm in eval mode)."""
    op = "instance_norm"
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input (N, C, *) of at least 3 dimensions, got shape "
                         f"{tuple(input.shape)}")
    n, c = input.shape[:2]
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if int(np.prod(input.shape[2:])) == 1:
        raise ValueError(f"{op}: Expected more than 1 spatial element when training, got input "
                         f"size {list(input.shape)}")
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"{op}: {name} should have shape ({c},) for input of shape "
                               f"{tuple(input.shape)}, got {tuple(t.shape)}")
    if check_norm_dtypes(op, "batch_norm", input, dict(weight=weight, bias=bias)):
        return instance_norm(input.to(np.float32), running_mean, running_var, weight, bias,
                             use_input_stats, momentum, eps).to(np.float16)
    x = input.reshape(n, c, int(np.prod(input.shape[2:])))  # (not -1: N may be 0)
    for stats, new in ((running_mean, lambda a: a.mean(axis=2)),
                       (running_var, lambda a: a.var(axis=2, ddof=1))):
        if stats is not None:  # in place, outside the graph, as batch_norm's
            stats._data *= 1 - momentum
            stats._data += (momentum * new(x._data).mean(axis=0)).astype(stats.dtype)
            bump(stats._data)
    y = LayerNorm.apply(x, None, None, 1, eps).reshape(input.shape)
    return _affine(y, weight, bias)


def _affine(y, weight, bias):
    """y scaled by ``weight`` and shifted by ``bias`` per channel (axis 1)."""
    shape = (1, -1) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False):
    """The rows of ``weight`` (num_embeddings, embedding_dim) at the integer ``input`` (*):
    (*, embedding_dim), as ``torch.nn.functional.embedding``. ``padding_idx``'s row gets no
    gradient; ``max_norm`` first rescales, in place, the rows looked up whose ``norm_type``-norm
    exceeds it; ``scale_grad_by_freq`` divides each row's gradient by its count in ``input``.
    ``sparse`` is accepted: the gradient is dense."""
    op = "embedding"
    idx = np.asarray(getattr(input, "_data", input))
    if idx.dtype not in (np.int64, np.int32):
        name = "CPUBoolType" if idx.dtype == np.bool_ else f"torch.{torch_name(idx.dtype)}Tensor"
        raise RuntimeError(f"{op}: Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got {name} instead (while "
                           f"checking arguments for embedding): convert the indices with .long()")
    if weight.ndim != 2:
        raise RuntimeError(f"{op}: 'weight' must be 2-D (num_embeddings, embedding_dim), got "
                           f"weight of shape {tuple(weight.shape)}")
    rows = weight.shape[0]
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise AssertionError(f"Padding_idx must be within num_embeddings (padding_idx "
                                 f"{padding_idx}, {rows} embeddings)")
        padding_idx = int(padding_idx) % rows
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        raise IndexError(f"{op}: index out of range in self: indices must be in [0, {rows}) for a "
                         f"weight of shape {tuple(weight.shape)}, got values in [{idx.min()}, "
                         f"{idx.max()}]")
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    return Embedding.apply(weight, input if hasattr(input, "_data") else idx, padding_idx,
                           bool(scale_grad_by_freq))


def _renorm_(weight, idx, max_norm, norm_type):
    """Rescale in place, outside the graph, each row of ``weight`` looked up by ``idx`` whose
    norm exceeds ``max_norm`` to max_norm / (norm + 1e-7) of itself, as PyTorch's
    ``embedding_renorm_``."""
    w = weight._data
    if w.dtype.kind not in "fc":
        raise RuntimeError(f"embedding: norm(): input dtype should be either floating point or "
                           f"complex. Got {torch_name(w.dtype)} instead (max_norm needs a float "
                           f"weight)")
    rows = np.unique(idx)
    norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
    big = norms > max_norm
    if big.any():
        scale = max_norm / (norms[big].astype(np.float64) + 1e-7)
        w[rows[big]] *= scale[:, None].astype(w.dtype)
        bump(w)


def _feature_dropout(op, input, generator, p, inplace=False, batched=True):
    """Dropout of whole channels: one draw per channel of input (N, C, *), or (C, *) if not
    ``batched``."""
    lead = 2 if batched else 1
    shape = tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)
    return _dropped(input, shape, p, generator, inplace, op)


def _check_dims(op, input, spatial):
    """PyTorch's warning for a channel dropout given an input of other dimensions."""
    if input.ndim not in (spatial + 1, spatial + 2):
        warnings.warn(f"{op}: Received a {input.ndim}-D input to {op}, which is deprecated and "
                      "will result in an error in a future release. To retain the behavior and "
                      "silence this warning, please use dropout instead. Note that "
                      f"{op} exists to provide channel-wise dropout on inputs with {spatial} "
                      "spatial dimensions, a channel dimension, and an optional batch dimension "
                      f"(i.e. {spatial + 1}D or {spatial + 2}D inputs).", stacklevel=3)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator=None):
    """Zero whole channels of (N, C, L) or (C, L) with probability ``p`` and scale the rest by
    1/(1-p), as ``torch.nn.functional.dropout1d``; ``inplace=True`` overwrites ``input``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D "
                           "input. Note that dropout1d exists to provide channel-wise dropout on "
                           "inputs with 1 spatial dimension, a channel dimension, and an optional "
                           "batch dimension (i.e. 2D or 3D inputs).")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    return _feature_dropout("dropout1d", input, generator, p, inplace, batched=input.ndim == 3)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator=None):
    """Zero whole channels of (N, C, H, W) with probability ``p`` and scale the rest by 1/(1-p),
    as ``torch.nn.functional.dropout2d`` (which, with a warning, takes a 3-D input as (N, C, L))."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    _check_dims("dropout2d", input, 2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim. This behavior will change in a future release "
                      "to interpret the input as one without a batch dimension, i.e. shape (C, H, "
                      "W). To maintain the 1D channel-wise dropout behavior, please switch to "
                      "using dropout1d instead.", stacklevel=2)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    return _feature_dropout("dropout2d", input, generator, p, inplace)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator=None):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability ``p`` and scale the
    rest by 1/(1-p), as ``torch.nn.functional.dropout3d``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    _check_dims("dropout3d", input, 3)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    return _feature_dropout("dropout3d", input, generator, p, inplace, batched=input.ndim == 5)
