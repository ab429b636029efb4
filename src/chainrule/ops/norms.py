"""Norms and distances: the vector p-norm as one op, and what PyTorch builds on it (matrix norms,
``normalize``, cosine similarity, pairwise distances, ``cdist``), with PyTorch's gradients,
also where a norm is 0."""

from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..dtypes import _Default
from .linalg import _expected_type
from .reduce import _axes, amax, amin

_INF = math.inf


class VectorNorm(Function):
    """y = (Σ |x|^p)^(1/p);  dL/dx = dL/dy · sign(x) |x|^(p-1) / y^(p-1), 0 where y = 0

    Over ``axes``; p = 2 gives dL/dy · x / y. p = inf: y = max |x|, -inf: min |x|, the gradient
    going to the elements where |x| = y, shared evenly among them (``split``, as PyTorch's norm)
    or whole to each (as PyTorch's cdist); p = 0: the count of nonzeros, gradient 0."""

    op = "linalg_vector_norm"

    @staticmethod
    def forward(ctx, x, p, axes, keepdim, split=True):
        a = np.abs(x)
        if p == 2:
            y = np.sqrt((x * x).sum(axis=axes, keepdims=keepdim))
        elif p == 1:
            y = a.sum(axis=axes, keepdims=keepdim)
        elif p == _INF:
            y = a.max(axis=axes, keepdims=keepdim)
        elif p == -_INF:
            y = a.min(axis=axes, keepdims=keepdim)
        elif p == 0:
            y = (x != 0).sum(axis=axes, keepdims=keepdim).astype(x.dtype)
        else:
            with np.errstate(divide="ignore"):
                y = (a ** p).sum(axis=axes, keepdims=keepdim) ** (1 / p)
        y = np.asarray(y, x.dtype)
        ctx.saved = (x, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved
        _, p, axes, keepdim, split = ctx.inputs
        g = grad_output
        if not keepdim:
            g, y = np.expand_dims(g, axes), np.expand_dims(y, axes)
        if p == 0:
            return np.zeros(x.shape, x.dtype), None, None, None, None
        if p == 1:
            return g * np.sign(x), None, None, None, None
        if p in (_INF, -_INF):
            a = np.abs(x)
            hit = (a == y) | np.isnan(a)
            if split:
                g = g / hit.sum(axis=axes, keepdims=True)
            return np.sign(x) * (g * hit), None, None, None, None
        zero = y == 0
        safe = np.where(zero, 1, y)  # a finite divisor, so that a gradient of this one stays 0
        if p == 2:
            grad = g * (x / safe)
        elif p < 1:
            nonzero = x != 0
            grad = np.sign(x) * np.where(nonzero, np.where(nonzero, np.abs(x), 1) ** (p - 1), 0) * (
                g * safe ** (1 - p))
        elif p < 2:
            grad = np.sign(x) * np.abs(x) ** (p - 1) * (g / safe ** (p - 1))
        else:
            grad = x * np.abs(x) ** (p - 2) * (g / safe ** (p - 1))
        return np.where(zero, 0, grad), None, None, None, None


# -- functions ------------------------------------------------------------------------------------

def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None, axis=None,
                keepdims=None):
    """The vector ``ord``-norm of x over ``dim`` (None: all elements): (Σ |x|^ord)^(1/ord); inf:
    max |x|, -inf: min |x|, 0: the number of nonzeros."""
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    if isinstance(ord, str) or not isinstance(ord, (int, float, np.number)):
        raise TypeError(f"linalg.vector_norm: argument 'ord' must be a number, not "
                        f"{type(ord).__name__} (for 'fro' or 'nuc' use linalg.matrix_norm)")
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {x.dtype}")
    axes = _axes(dim, x.ndim, "linalg.vector_norm")
    return VectorNorm.apply(x, float(ord), axes, bool(keepdim), True)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None):
    """The matrix norm of A over the two dims ``dim``: "fro" (√Σ a²), 1 / -1 (largest / smallest
    column sum of |a|), inf / -inf (largest / smallest row sum). "nuc" and ±2 (from singular
    values) are not implemented."""
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                           f"dimensions (got shape {A.shape})")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dims) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {len(dims)}")
    d0, d1 = (_axes(d, A.ndim, "linalg.matrix_norm")[0] for d in dims)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({d0}, {d1})")
    if dtype is not None:
        A = A.to(dtype)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs singular values, "
                                  "which chainrule does not compute; use 'fro', 1, -1, inf or -inf")
    if isinstance(ord, str) or ord not in (1, -1, _INF, -_INF):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if abs(ord) == _INF:  # row sums: the sum runs along the second dim
        d0, d1 = d1, d0
    if not keepdim and d0 < d1:
        d1 -= 1
    sums = vector_norm(A, 1, d0, keepdim)
    return (amax if ord > 0 else amin)(sums, d1, keepdim)


def linalg_norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None):
    """``linalg.norm``: a vector norm (1-D input, or one ``dim``) or a matrix norm (2-D input, or
    two dims); without ``ord``, the 2-norm of all elements (or over ``dim``)."""
    if dim is not None:
        dim = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dim) not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. "
                               f"Got {list(dim)}")
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must "
                               f"be 1D or 2D. Got {A.ndim}D.")
        dim = tuple(range(A.ndim)) if A.ndim == 2 or not isinstance(ord, str) else (-2, -1)
    if len(dim) == 1 and not isinstance(ord, str):
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, ord, dim, keepdim, dtype=dtype)


def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None):
    """``torch.norm``: the vector p-norm over ``dim`` (None: all elements); "fro" is the 2-norm;
    "nuc" is the nuclear matrix norm (not implemented)."""
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, int) or len(dim) <= 2):
            return vector_norm(input, 2, dim, keepdim, dtype=dtype)
        return matrix_norm(input, p, tuple(range(input.ndim)) if dim is None else dim, keepdim,
                           dtype=dtype)
    return vector_norm(input, 2.0 if p is None else p, dim, keepdim, dtype=dtype)


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None):
    """input / max(‖input‖_p, eps), the norm taken along ``dim``."""
    if out is not None:
        raise TypeError("normalize: out= is not supported; assign the result instead")
    return input / vector_norm(input, p, dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8, *, axis=None):
    """Σ x1·x2 / (max(‖x1‖, eps) · max(‖x2‖, eps)) along ``dim`` (x1 and x2 broadcast), computed
    as PyTorch: each input divided by its norm first; the floor at ``eps`` does not change the
    gradient of the norm (PyTorch clamps without recording it)."""
    dim = dim if axis is None else axis
    x1, x2 = _broadcast("cosine_similarity", x1, x2)
    if x1.dtype.kind not in "fc" and x2.dtype.kind not in "fc":
        raise RuntimeError(f"cosine_similarity: expected common dtype to be floating point, yet "
                           f"common dtype is {np.result_type(x1.dtype, x2.dtype)}")
    n1 = _floored(vector_norm(_float(x1), 2, dim, keepdim=True), eps)
    n2 = _floored(vector_norm(_float(x2), 2, dim, keepdim=True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def _floored(n, eps):
    """n with values below eps raised to eps, the gradient passing as if not (a constant added)."""
    low = n._data < eps
    if not low.any():
        return n
    return n + np.where(low, eps - n._data, 0).astype(n.dtype)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False, *,
                      keepdims=None):
    """‖x1 - x2 + eps‖_p along the last dim (x1 and x2 broadcast), as PyTorch."""
    keepdim = keepdim if keepdims is None else keepdims
    d = max(x1.ndim, x2.ndim) - 1
    return vector_norm(x1 - x2 + eps, p, d if d >= 0 else None, keepdim)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")


def cdist(x1, x2, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance between each row of x1 (..., P, M) and each row of x2 (..., R, M):
    (..., P, R). The gradient at a zero distance is 0; for p = inf it goes whole to each
    coordinate where |difference| is the distance, as PyTorch. (``compute_mode`` is accepted;
    distances are always computed directly.)"""
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, X2 "
                           f"got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"cdist: {compute_mode} is not a valid value for compute_mode")
    for t in (x1, x2):
        if t.dtype.kind not in "fc":
            raise RuntimeError(f"cdist only supports floating-point dtypes, X{1 if t is x1 else 2} "
                               f"got: {t.dtype}")
    _expected_type("cdist", (x1, x2), ("x1", "x2"))
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
    return VectorNorm.apply(diff, float(p), (diff.ndim - 1,), False, False)


def _broadcast(op, a, b):
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"{op}: the shapes {a.shape} and {b.shape} do not broadcast") from None
    return (a if a.shape == shape else a.expand(*shape)), (b if b.shape == shape else b.expand(*shape))


def _float(t):
    return t if t.dtype.kind in "fc" else t.to(_Default.dtype)

