"""Loss functions, each one fused node: its backward is the closed form, not a chain of small ops.

Conventions as PyTorch: ``reduction`` is "mean" (the default), "sum" or "none"; class scores sit on
axis 1 of an (N, C, d1, ...) input, or axis 0 of an unbatched (C,) input.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from .activation import LogSoftmax, Sigmoid, _floating
from .elementwise import clamp, minimum
from .norms import pairwise_distance
from .shape import IndexPut

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss, reduction, denominator=None):
    if reduction == "none":
        return loss
    total = np.add.reduce(loss, axis=None)
    if reduction == "sum":
        return total
    n = loss.size if denominator is None else denominator
    return total / n if n != 0 else total.dtype.type(np.nan)  # an empty mean is nan, as PyTorch


def _reduce_tensor(loss, reduction, denominator):
    """``_reduce`` for a Tensor (in a composite)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / denominator if denominator != 0 else total * np.nan


def _scale(grad_output, reduction, n):
    """dL/d(per-element loss): the incoming gradient, divided by n for a mean (0 for an empty
    mean, as PyTorch)."""
    if reduction == "mean":
        return grad_output / n if n != 0 else grad_output * 0
    return grad_output


def _as(out, dtype):
    return out if out.dtype == dtype else out.astype(dtype)


# -- classification: class scores against class indices or probabilities ----------------------

def _class_last(x):
    """(N, C, d1, ...) or (C,) -> (M, C), one row per prediction."""
    if x.ndim == 2:
        return x
    if x.ndim == 1:
        return x[None]
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _class_back(g, shape):
    """Undo ``_class_last`` for a gradient of shape (M, C)."""
    if len(shape) == 2:
        return g
    if len(shape) == 1:
        return g[0]
    return np.moveaxis(g.reshape((shape[0],) + shape[2:] + (shape[1],)), -1, 1)


def _row_shape(shape):
    """The shape of a per-prediction result for an input of ``shape``: (N, d1, ...) or ()."""
    return (shape[0],) + tuple(shape[2:]) if len(shape) > 1 else ()


def _class_targets(op, x, target, weight, ignore_index):
    """Check class-index targets. Return them flat (ignored ones set to 0), the weight of each
    row (w[t], 0 where ignored; None when every row weighs 1), and the mask of the rows that are
    not ignored (None when none is)."""
    c = x.shape[1] if x.ndim > 1 else x.shape[0]
    if target.shape != _row_shape(x.shape):
        raise RuntimeError(f"{op}: expected target of shape {_row_shape(x.shape)} for input "
                           f"{x.shape}, got {target.shape}")
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected target of integer class indices for input {x.shape}, "
                           f"got {target.dtype} (class probabilities need the input's shape)")
    if weight is not None and weight.shape != (c,):
        raise RuntimeError(f"{op}: weight should have shape ({c},) for {c} classes, got "
                           f"{weight.shape}")
    t = target.reshape(-1)
    valid = None
    # viewed as unsigned, a negative target is huge: one reduction checks 0 <= t < c
    if t.size and (np.maximum.reduce(t.view(f"u{t.itemsize}")) >= c or 0 <= ignore_index < c):
        ignored = t == ignore_index
        bad = ~ignored & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"{op}: target {t[bad][0]} is out of bounds for {c} classes")
        if ignored.any():
            t = np.where(ignored, 0, t)
            valid = ~ignored
    if weight is None and valid is None:
        return t, None, None
    rows = weight[t] if weight is not None else np.ones(t.shape, x.dtype)
    if valid is not None:
        rows = np.where(valid, rows, 0).astype(x.dtype, copy=False)
    return t, rows, valid


def _smoothed(t, rows, valid, weight, eps, shape, dtype):
    """Dense targets for label smoothing: q = (1 - ε) w_t onehot(t) + (ε / C) w, on the rows that
    are not ignored."""
    m, c = shape
    q = np.empty(shape, dtype)
    q[...] = (eps / c) * (1 if weight is None else weight)
    if valid is not None:
        q[~valid] = 0
    q[np.arange(m), t] += (1 - eps) * (1 if rows is None else rows)
    return q


class CrossEntropy(Function):
    """L_i = -Σ_c q_ic log softmax(z_i)_c;  dL/dz_i = (Σ_c q_ic) softmax(z_i) - q_i
    (q_i: the one-hot target, or the target probabilities; weighted and smoothed as PyTorch);
    for plain class indices: dL/dz = softmax(z) - onehot(t), divided by N for the mean"""

    op = "cross_entropy"

    @staticmethod
    def forward(ctx, z, target, weight, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        z2 = _class_last(z)
        m, c = z2.shape
        eps = label_smoothing
        s = z2 - np.maximum.reduce(z2, axis=1, keepdims=True)  # exp never overflows
        t = rows = index = picked = grad_t = None
        if target.shape == z.shape and target.dtype.kind == "f":  # class probabilities
            if ignore_index >= 0:
                raise RuntimeError("cross_entropy: ignore_index is not supported for class "
                                   "probability targets")
            if weight is not None and weight.shape != (c,):
                raise RuntimeError(f"cross_entropy: weight should have shape ({c},) for {c} "
                                   f"classes, got {weight.shape}")
            q = _class_last(target)
            q = q * (1 - eps) + eps / c if eps else q
            q = q * weight if weight is not None else q
            denominator = m
        else:  # class indices
            t, rows, valid = _class_targets("cross_entropy", z, target, weight, ignore_index)
            denominator = m if rows is None else rows.sum()
            if eps:
                q = _smoothed(t, rows, valid, weight, eps, (m, c), z.dtype)
            else:  # sparse: only the target's logit is needed, so exp may overwrite s
                q = None
                index = np.arange(m)
                picked = s[index, t]
        e = np.exp(s) if q is not None else np.exp(s, out=s)
        sum_exp = np.add.reduce(e, axis=1, keepdims=True)
        log_sum = np.log(sum_exp)
        # backward needs softmax = e / sum_exp: it divides there, folded into the (M, 1) scale,
        # which saves a pass over (M, C) here and costs nothing when no gradient is asked for
        if q is None:
            loss = log_sum[:, 0] - picked
            if rows is not None:
                loss *= rows
            ctx.saved = (e, sum_exp, t, rows, None, index)
        else:
            logp = s - log_sum
            loss = -(q * logp).sum(axis=1)
            if t is None and ctx.needs_input_grad[1]:  # dL/dtarget = -(1 - ε) w log softmax(z)
                grad_t = logp * (-(1 - eps) if weight is None else -(1 - eps) * weight)
            ctx.saved = (e, sum_exp, q, None, grad_t, None)
        ctx.shape, ctx.reduction, ctx.denominator = z.shape, reduction, denominator
        return _as(_reduce(loss.reshape(_row_shape(z.shape)), reduction, denominator), z.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        # e = exp(z - max), softmax = e / sum_exp; targets: indices (M,) or dense q (M, C)
        e, sum_exp, targets, rows, grad_t, index = ctx.saved
        scale = _scale(grad_output, ctx.reduction, ctx.denominator)
        if ctx.reduction == "none":
            scale = scale.reshape(-1, 1)
        grad_z = None
        if ctx.needs_input_grad[0]:
            if targets.ndim == 1:  # class indices: w_t (softmax - onehot(t)) on each row
                coef = scale if rows is None else rows[:, None] * scale
                grad_z = e * (coef / sum_exp)
                grad_z[index, targets] -= coef if coef.ndim == 0 else coef[:, 0]
            else:  # dense q: (Σ q) softmax - q
                grad_z = (targets.sum(axis=1, keepdims=True) / sum_exp * e - targets) * scale
            grad_z = _class_back(grad_z, ctx.shape)
        if grad_t is not None:
            grad_t = _class_back(grad_t * scale, ctx.shape)
        return grad_z, grad_t, None

    @staticmethod
    def composite(ctx, z, target, weight, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
        """The same loss from log_softmax and a weighted sum: what ``create_graph=True``
        differentiates (the fused backward above works on arrays only)."""
        logp = _class_last(LogSoftmax.apply(z, 1 if z.ndim > 1 else 0))  # (M, C)
        m, c = logp.shape
        eps = label_smoothing
        w = weight._data if isinstance(weight, Tensor) else weight
        if target.shape == z.shape and target.dtype.kind == "f":  # class probabilities
            q = _class_last(target)
            q = q * (1 - eps) + eps / c if eps else q
            loss = -((q if w is None else q * w) * logp).sum(axis=1)
            denominator = m
        else:
            t, rows, valid = _class_targets("cross_entropy", z._data, target._data, w, ignore_index)
            picked = logp[np.arange(m), t]
            loss = -picked if rows is None else -picked * rows
            if eps:
                smooth = (logp if w is None else logp * w).sum(axis=1) * (-eps / c)
                loss = loss * (1 - eps) + (smooth if valid is None else smooth * valid)
            denominator = m if rows is None else rows.sum()
        return _reduce_tensor(loss.reshape(_row_shape(z.shape)), reduction, denominator)


class NLLLoss(Function):
    """L_i = -w_{t_i} x_{i, t_i}  (x: log-probabilities);  dL/dx_{i, t_i} = -w_{t_i}, 0 elsewhere"""

    op = "nll_loss"

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index=-100, reduction="mean"):
        x2 = _class_last(x)
        t, rows, _ = _class_targets("nll_loss", x, target, weight, ignore_index)
        picked = x2[np.arange(len(t)), t]
        loss = -picked if rows is None else -picked * rows
        denominator = len(t) if rows is None else rows.sum()
        ctx.saved = (t, rows)
        ctx.shape, ctx.dtype = x.shape, x.dtype
        ctx.reduction, ctx.denominator = reduction, denominator
        return _as(_reduce(loss.reshape(_row_shape(x.shape)), reduction, denominator), x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        t, rows = ctx.saved
        shape, reduction = ctx.shape, ctx.reduction
        scale = _scale(grad_output, reduction, ctx.denominator)
        scale = scale.reshape(-1) if reduction == "none" else scale
        zeros = np.zeros((len(t), shape[1] if len(shape) > 1 else shape[0]), ctx.dtype)
        g = IndexPut.call(zeros, -scale if rows is None else -scale * rows,
                          index=(np.arange(len(t)), t))
        return _class_back(g, shape), None, None


# -- binary classification ---------------------------------------------------------------------

_BCE_EPS = float(np.float32(1e-12))  # PyTorch's EPSILON there is this float32 constant


class BinaryCrossEntropy(Function):
    """L = -w (t log x + (1 - t) log(1 - x)), each log clamped at -100 as PyTorch;
    dL/dx = w (x - t) / max(x (1 - x), 1e-12),  dL/dt = w (log(1 - x) - log x)"""

    op = "binary_cross_entropy"

    @staticmethod
    def forward(ctx, x, t, weight, reduction="mean"):
        if x.size and (x.min() < 0 or x.max() > 1):
            raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 "
                               "and 1 (apply sigmoid first, or use "
                               "binary_cross_entropy_with_logits)")
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log(1 - x), -100)
        loss = -(t * log_x + (1 - t) * log_1mx)
        if weight is not None:
            loss = loss * weight
        ctx.saved = (x, t, weight)
        ctx.reduction, ctx.n = reduction, x.size
        return _as(_reduce(loss, reduction), x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, t, weight = ctx.saved
        scale = _scale(grad_output, ctx.reduction, ctx.n)
        if weight is not None:
            scale = scale * weight
        need = ctx.needs_input_grad
        grad_x = (x - t) / np.maximum(x * (1 - x), _BCE_EPS) * scale if need[0] else None
        grad_t = None
        if need[1]:
            with np.errstate(divide="ignore"):
                grad_t = (np.maximum(np.log(1 - x), -100) - np.maximum(np.log(x), -100)) * scale
        return grad_x, grad_t, None


class BinaryCrossEntropyWithLogits(Function):
    """L = w ((1 - t) x - l log σ(x)),  l = 1 + (pos_weight - 1) t;
    dL/dx = w (l σ(x) - pos_weight t),  dL/dt = -w (x + (pos_weight - 1) log σ(x)),
    dL/dpos_weight = -w t log σ(x)"""

    op = "binary_cross_entropy_with_logits"

    @staticmethod
    def forward(ctx, x, t, weight, pos_weight, reduction="mean"):
        log_sig = -np.logaddexp(0, -x)  # log σ(x), stable for large |x|
        if pos_weight is None:
            loss = (1 - t) * x - log_sig
        else:
            loss = (1 - t) * x - (1 + (pos_weight - 1) * t) * log_sig
        if weight is not None:
            loss = loss * weight
        ctx.saved = (x, t, weight, pos_weight)
        ctx.reduction, ctx.n = reduction, loss.size
        return _as(_reduce(loss, reduction), x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, t, weight, pos_weight = ctx.saved
        log_sig = -np.logaddexp(0, -x)
        scale = _scale(grad_output, ctx.reduction, ctx.n)
        if weight is not None:
            scale = scale * weight
        need = ctx.needs_input_grad
        grad_x = grad_t = grad_pw = None
        if need[0]:
            sig = np.exp(log_sig)
            if pos_weight is None:
                grad_x = (sig - t) * scale
            else:
                grad_x = ((1 + (pos_weight - 1) * t) * sig - pos_weight * t) * scale
        if need[1]:
            grad_t = -(x if pos_weight is None else x + (pos_weight - 1) * log_sig) * scale
        if need[3]:
            grad_pw = -t * log_sig * scale
        return grad_x, grad_t, None, grad_pw


# -- regression --------------------------------------------------------------------------------

class MSELoss(Function):
    """L = (x - t)²;  dL/dx = 2 (x - t),  dL/dt = -2 (x - t)"""

    op = "mse_loss"

    @staticmethod
    def forward(ctx, x, t, reduction="mean"):
        d = x - t
        ctx.saved, ctx.reduction, ctx.n = (x, t), reduction, d.size
        return _as(_reduce(d * d, reduction), d.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved
        g = (2 * (x - t)) * _scale(grad_output, ctx.reduction, ctx.n)
        need = ctx.needs_input_grad
        return (g if need[0] else None), (-g if need[1] else None)


class L1Loss(Function):
    """L = |x - t|;  dL/dx = sign(x - t),  dL/dt = -sign(x - t)  (0 where x = t)"""

    op = "l1_loss"

    @staticmethod
    def forward(ctx, x, t, reduction="mean"):
        d = x - t
        ctx.saved, ctx.reduction, ctx.n = (x, t), reduction, d.size
        return _as(_reduce(np.abs(d), reduction), d.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved
        g = np.sign(x - t) * _scale(grad_output, ctx.reduction, ctx.n)
        need = ctx.needs_input_grad
        return (g if need[0] else None), (-g if need[1] else None)


class SmoothL1Loss(Function):
    """L = ½ d²/β where |d| < β, else |d| - ½β  (d = x - t);
    dL/dx = d/β where |d| < β, else sign(d);  dL/dt = -dL/dx"""

    op = "smooth_l1_loss"
    huber = False

    @classmethod
    def forward(cls, ctx, x, t, reduction="mean", beta=1.0):
        d = x - t
        z = np.abs(d)
        if cls.huber:
            loss = np.where(z < beta, 0.5 * z * z, beta * (z - 0.5 * beta))
        else:
            loss = np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)
        ctx.saved, ctx.reduction, ctx.n, ctx.beta = (x, t), reduction, d.size, beta
        return _as(_reduce(loss, reduction), d.dtype)

    @classmethod
    def backward(cls, ctx, grad_output):
        x, t = ctx.saved
        beta = ctx.beta
        d = x - t
        if cls.huber:
            slope = np.where(np.abs(d) < beta, d, np.sign(d) * beta)
        else:
            slope = np.where(np.abs(d) < beta, d / beta, np.sign(d))
        g = slope * _scale(grad_output, ctx.reduction, ctx.n)
        need = ctx.needs_input_grad
        return (g if need[0] else None), (-g if need[1] else None)


class HuberLoss(SmoothL1Loss):
    """L = ½ d² where |d| < δ, else δ (|d| - ½δ)  (δ times smooth L1 with β = δ);
    dL/dx = d where |d| < δ, else δ sign(d);  dL/dt = -dL/dx"""

    op = "huber_loss"
    huber = True


class KLDivLoss(Function):
    """L = t (log t - x), 0 where t = 0  (x: log-probabilities; a log target: exp(t) (t - x));
    dL/dx = -t,  dL/dt = log t + 1 - x, NaN where t <= 0 as PyTorch's  (log target: -exp(t)
    and exp(t) (t - x + 1))"""

    op = "kl_div"

    @staticmethod
    def forward(ctx, x, t, reduction="mean", log_target=False, denominator=None):
        if log_target:
            loss = np.exp(t) * (t - x)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                loss = np.where(t == 0, 0, t * np.log(t)) - t * x  # PyTorch's xlogy(t, t)
        ctx.saved, ctx.log_target, ctx.reduction = (x, t), log_target, reduction
        ctx.n = loss.size if denominator is None else denominator
        return _as(_reduce(loss, reduction, ctx.n), loss.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved
        scale = _scale(grad_output, ctx.reduction, ctx.n)
        need = ctx.needs_input_grad
        grad_x = grad_t = None
        if ctx.log_target:
            p = np.exp(t)
            grad_x = -p * scale if need[0] else None
            grad_t = p * (t - x + 1) * scale if need[1] else None
        else:
            grad_x = -t * scale if need[0] else None
            if need[1]:  # t / t: 1, and NaN at t = 0, as PyTorch's gradient of xlogy(t, t)
                with np.errstate(divide="ignore", invalid="ignore"):
                    grad_t = (np.log(t) + t / t - x) * scale
        return grad_x, grad_t


class PoissonNLLLoss(Function):
    """L = exp(x) - t x  (x: log rate), or x - t log(x + eps)  (x: rate); ``full`` adds
    Stirling's t log t - t + ½ log(2π t) where t > 1;  dL/dx = exp(x) - t, or 1 - t / (x + eps);
    dL/dt = -x, or -log(x + eps), plus log t + 1/(2t) where t > 1 when ``full``
    (and NaN where t <= 0, as PyTorch's)"""

    op = "poisson_nll_loss"

    @staticmethod
    def forward(ctx, x, t, log_input=True, full=False, eps=1e-8, reduction="mean"):
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.exp(x) - t * x if log_input else x - t * np.log(x + eps)
        if full:
            big = np.where(t > 1, t, 1)  # (the log of a t <= 1 is never taken)
            loss = loss + np.where(t > 1, big * np.log(big) - big + 0.5 * np.log(_TWO_PI * big), 0)
        ctx.saved, ctx.reduction, ctx.n = (x, t), reduction, loss.size
        ctx.log_input, ctx.full, ctx.eps = log_input, full, eps
        return _as(_reduce(loss, reduction), loss.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved
        scale = _scale(grad_output, ctx.reduction, ctx.n)
        need = ctx.needs_input_grad
        grad_x = grad_t = None
        if need[0]:
            grad_x = (np.exp(x) - t if ctx.log_input else 1 - t / (x + ctx.eps)) * scale
        if need[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_t = -x if ctx.log_input else -np.log(x + ctx.eps)
                if ctx.full:  # 0 · log t where t <= 1: NaN at t <= 0, as PyTorch's
                    big = np.where(t > 1, t, 1)
                    grad_t = grad_t + np.where(t > 1, np.log(big) + 0.5 / big, 0 * np.log(t))
            grad_t = grad_t * scale
        return grad_x, grad_t


_TWO_PI = 2 * math.pi


class GaussianNLLLoss(Function):
    """L = ½ (log v + (x - t)² / v)  (+ ½ log 2π when ``full``),  v = max(var, eps);
    dL/dx = (x - t) / v = -dL/dt,  dL/dvar = ½ (1/v - (x - t)²/v²)  (through the clamp as if it
    were not there: PyTorch clamps under no_grad)"""

    op = "gaussian_nll_loss"

    @staticmethod
    def forward(ctx, x, t, var, full=False, eps=1e-6, reduction="mean"):
        v = np.maximum(var, eps)
        ctx.lift = v - var if (var < eps).any() else None  # a constant: the clamp has no gradient
        d = x - t
        with np.errstate(divide="ignore"):
            loss = 0.5 * (np.log(v) + d * d / v)
        if full:
            loss = loss + 0.5 * math.log(_TWO_PI)
        ctx.saved, ctx.reduction, ctx.n = (x, t, var), reduction, loss.size
        return _as(_reduce(loss, reduction), loss.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, t, var = ctx.saved
        v = var if ctx.lift is None else var + ctx.lift
        d = x - t
        scale = _scale(grad_output, ctx.reduction, ctx.n)
        need = ctx.needs_input_grad
        grad_x = d / v * scale if need[0] or need[1] else None
        grad_var = 0.5 * (1 - d * d / v) / v * scale if need[2] else None
        return (grad_x if need[0] else None), (-grad_x if need[1] else None), grad_var


# -- embeddings and margins: similarity of pairs and triplets, and margins between scores -----

_COS_EPS = 1e-12  # PyTorch's EPSILON, added to each squared norm


def _cosine(x1, x2):
    """cos(x1, x2) over the last axis (kept), its denominator and both squared norms."""
    m1 = (x1 * x1).sum(axis=-1, keepdims=True) + _COS_EPS
    m2 = (x2 * x2).sum(axis=-1, keepdims=True) + _COS_EPS
    denom = np.sqrt(m1 * m2)
    return (x1 * x2).sum(axis=-1, keepdims=True) / denom, denom, m1, m2


class CosineEmbeddingLoss(Function):
    """L = 1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1 (0 for any
    other y);  ∂cos/∂x1 = x2 / √(|x1|² |x2|²) - cos x1 / |x1|², and the same for x2"""

    op = "cosine_embedding_loss"

    @staticmethod
    def forward(ctx, x1, x2, y, margin=0.0, reduction="mean"):
        cos = _cosine(x1, x2)[0][..., 0]
        loss = np.where(y == 1, 1 - cos, 0) + np.where(y == -1, np.maximum(cos - margin, 0), 0)
        ctx.saved, ctx.margin, ctx.reduction, ctx.n = (x1, x2, y), margin, reduction, loss.size
        return _as(_reduce(loss, reduction), loss.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x1, x2, y = ctx.saved
        cos, denom, m1, m2 = _cosine(x1, x2)
        scale = _per_row(_scale(grad_output, ctx.reduction, ctx.n), ctx.reduction)
        pos, neg = np.expand_dims(y == 1, -1), np.expand_dims(y == -1, -1)
        grad_cos = scale * np.logical_and(neg, cos - ctx.margin >= 0) - scale * pos
        need = ctx.needs_input_grad
        return (grad_cos * (x2 / denom - cos * x1 / m1) if need[0] else None,
                grad_cos * (x1 / denom - cos * x2 / m2) if need[1] else None, None)


class MarginRankingLoss(Function):
    """L = max(0, -y (x1 - x2) + margin);  where -y (x1 - x2) + margin >= 0: dL/dx1 = -y,
    dL/dx2 = y,  dL/dy = -(x1 - x2)"""

    op = "margin_ranking_loss"

    @staticmethod
    def forward(ctx, x1, x2, y, margin=0.0, reduction="mean"):
        y = y if y.dtype.kind == "f" else y.astype(x1.dtype)  # (integer labels: no gradient)
        loss = np.maximum(-y * (x1 - x2) + margin, 0)
        ctx.saved, ctx.margin, ctx.reduction, ctx.n = (x1, x2, y), margin, reduction, loss.size
        return _as(_reduce(loss, reduction), loss.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x1, x2, y = ctx.saved
        d = x1 - x2
        g = _scale(grad_output, ctx.reduction, ctx.n) * (-y * d + ctx.margin >= 0)
        need = ctx.needs_input_grad
        return (-y * g if need[0] else None), (y * g if need[1] else None), (
            -d * g if need[2] else None)


class HingeEmbeddingLoss(Function):
    """L = x where y = 1, max(0, margin - x) where y = -1 (their sum for any other y);
    dL/dx = [y ≠ -1] - [y ≠ 1 and margin - x >= 0]"""

    op = "hinge_embedding_loss"

    @staticmethod
    def forward(ctx, x, y, margin=1.0, reduction="mean"):
        loss = np.where(y != 1, np.maximum(margin - x, 0), 0) + np.where(y != -1, x, 0)
        ctx.saved, ctx.margin, ctx.reduction, ctx.n = (x, y), margin, reduction, loss.size
        return _as(_reduce(loss, reduction), loss.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved
        scale = _scale(grad_output, ctx.reduction, ctx.n)
        return scale * (y != -1) - scale * np.logical_and(y != 1, ctx.margin - x >= 0), None


# -- multi-label and multi-class margins -------------------------------------------------------

class MultiLabelSoftMarginLoss(Function):
    """L_i = -(1/C) Σ_c w_c (t_ic log σ(x_ic) + (1 - t_ic) log σ(-x_ic));
    dL/dx = w (σ(x) - t) / C,  dL/dt = -w x / C"""

    op = "multilabel_soft_margin_loss"

    @staticmethod
    def forward(ctx, x, t, weight, reduction="mean"):
        loss = _soft_margin(x, t)
        if weight is not None:
            loss = loss * weight
        c = x.shape[-1]
        rows = loss.sum(axis=-1) / c
        ctx.saved, ctx.reduction, ctx.n, ctx.c = (x, t, weight), reduction, rows.size, c
        return _as(_reduce(rows, reduction), rows.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, t, weight = ctx.saved
        scale = _per_row(_scale(grad_output, ctx.reduction, ctx.n), ctx.reduction) / ctx.c
        scale_w = scale if weight is None else scale * weight
        need = ctx.needs_input_grad
        return ((Sigmoid.call(x) - t) * scale_w if need[0] else None,
                -x * scale_w if need[1] else None,
                _soft_margin(x, t) * scale if need[2] else None)


def _soft_margin(x, t):
    """-(t log σ(x) + (1 - t) log σ(-x)), as PyTorch writes it."""
    return -(t * -np.logaddexp(0, -x) + (1 - t) * -np.logaddexp(0, x))


class MultiMarginLoss(Function):
    """L_i = Σ_{j ≠ y_i} w_{y_i} max(0, margin - x_{i,y_i} + x_ij)^p / C  (p = 1 or 2);
    dL/dx_ij = w_{y_i} p z_ij^(p-1) / C where z_ij = margin - x_{i,y_i} + x_ij > 0 (j ≠ y_i),
    and dL/dx_{i,y_i} = minus their sum"""

    op = "multi_margin_loss"

    @staticmethod
    def forward(ctx, x, target, weight, p=1, margin=1.0, reduction="mean"):
        x2 = x.reshape(-1, x.shape[-1])
        t = target.reshape(-1, 1)
        ctx.t = t  # a view of target, which is saved: the version check covers it
        ctx.other = np.arange(x2.shape[1]) != t  # (N, C): every class but the target
        h = np.maximum(margin - np.take_along_axis(x2, t, 1) + x2, 0) * ctx.other
        if p == 2:
            h = h * h
        if weight is not None:
            h = h * weight[t]
        loss = (h.sum(axis=1) / x2.shape[1]).reshape(target.shape)
        ctx.saved, ctx.reduction, ctx.n = (x, target, weight), reduction, loss.size
        ctx.p, ctx.margin = p, margin
        return _as(_reduce(loss, reduction), loss.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, _, weight = ctx.saved
        x2 = x.reshape(-1, x.shape[-1])
        t = ctx.t
        z = ctx.margin - np.take_along_axis(x2, t, 1) + x2
        scale = _scale(grad_output, ctx.reduction, ctx.n) / x2.shape[1]
        if ctx.reduction == "none":
            scale = scale.reshape(-1, 1)
        if weight is not None:
            scale = scale * weight[t]
        grad_z = scale * np.logical_and(ctx.other, z > 0)
        if ctx.p == 2:
            grad_z = grad_z * (2 * z)
        # the target's own score takes minus the sum of the others'
        grad = grad_z - (~ctx.other) * grad_z.sum(axis=1, keepdims=True)
        return grad.reshape(x.shape), None, None


def _per_row(scale, reduction):
    """The scale of each row's loss, against a per-row quantity with its last axis kept."""
    return np.expand_dims(scale, -1) if reduction == "none" else scale


# -- functions ---------------------------------------------------------------------------------

def _reduction(size_average, reduce, reduction):
    """PyTorch's reduction argument, with its deprecated ``size_average`` / ``reduce`` spelling."""
    if size_average is not None or reduce is not None:
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      "reduction='mean' / 'sum' / 'none' instead.", stacklevel=3)
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _same_shape(op, input, target, broadcast_ok):
    if target.shape == input.shape:
        return
    if not broadcast_ok:
        raise ValueError(f"{op}: expected target of shape {input.shape} like the input, got "
                         f"{target.shape}")
    warnings.warn(f"{op}: using a target size ({target.shape}) that is different to the input "
                  f"size ({input.shape}). This will likely lead to incorrect results due to "
                  "broadcasting. Please ensure they have the same size.", stacklevel=3)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross-entropy of logits ``input`` (N, C) or (N, C, d1, ...) or (C,) against ``target``:
    class indices (N,) / (N, d1, ...) / (), or class probabilities of the input's shape.

    One fused node: log-softmax with the max shifted out (stable for any logits) and the
    negative log-likelihood, whose gradient is ``(softmax(input) - onehot(target)) / N``.
    ``weight`` (C,) weights each class (the mean divides by the summed weights of the targets);
    targets equal to ``ignore_index`` count for nothing; ``label_smoothing`` mixes the target
    with the uniform distribution, as PyTorch.

    >>> F.cross_entropy(cr.tensor([[2.0, 0.0]]), cr.tensor([0]))  # log(1 + e**-2)
    tensor(0.1269)
    """
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    if input.ndim == 0:
        raise RuntimeError("cross_entropy: input must have at least one dimension (the classes)")
    return CrossEntropy.apply(input, target, weight, ignore_index=ignore_index,
                              reduction=reduction, label_smoothing=float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, ...) at class indices
    ``target`` (N, ...): ``-input[i, target[i]]``, weighted and averaged as ``cross_entropy``.
    ``nll_loss(log_softmax(z, 1), t)`` equals ``cross_entropy(z, t)``."""
    reduction = _reduction(size_average, reduce, reduction)
    if input.ndim == 0:
        raise RuntimeError("nll_loss: input must have at least one dimension (the classes)")
    return NLLLoss.apply(input, target, weight, ignore_index=ignore_index, reduction=reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean"):
    """-(t log x + (1 - t) log(1 - x)) for probabilities ``input`` in [0, 1] and ``target`` of
    the same shape; logs are clamped at -100 (as PyTorch), so x = 0 or 1 gives a finite loss.
    ``weight`` broadcasts to the input and scales each element's loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _same_shape("binary_cross_entropy", input, target, broadcast_ok=False)
    if isinstance(target, Tensor) and target.dtype != input.dtype:  # integer labels: .float()
        from .linalg import _name
        raise RuntimeError(f"Found dtype {_name(target.dtype)} but expected "
                           f"{_name(input.dtype)}")
    return BinaryCrossEntropy.apply(input, target, weight, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None):
    """``binary_cross_entropy(sigmoid(input), target)`` in one stable node (log σ by
    log-add-exp, so no overflow for large logits); ``pos_weight`` weighs the positive term,
    broadcast along the last (class) axis."""
    reduction = _reduction(size_average, reduce, reduction)
    _same_shape("binary_cross_entropy_with_logits", input, target, broadcast_ok=False)
    if isinstance(target, Tensor) and target.dtype.kind not in "fc":  # integer labels: .float()
        from .linalg import _name
        raise RuntimeError(f"result type {_name(input.dtype)} can't be cast to the desired "
                           f"output type {_name(target.dtype)}")
    return BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight,
                                              reduction=reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """Mean squared error: mean((input - target)²) (``reduction="sum"``: the sum, "none": each).

    The sum-of-squares loss of the classic backpropagation derivations is
    ``mse_loss(output, target, reduction="sum")``; their ½·Σ(target − output)², chosen so that the
    2 cancels in the derivative, is half of it: ``0.5 * mse_loss(output, target, reduction="sum")``.
    """
    reduction = _reduction(size_average, reduce, reduction)
    _same_shape("mse_loss", input, target, broadcast_ok=True)
    return MSELoss.apply(input, target, reduction=reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """Mean absolute error: mean(|input - target|); the gradient at input == target is 0."""
    reduction = _reduction(size_average, reduce, reduction)
    _same_shape("l1_loss", input, target, broadcast_ok=True)
    return L1Loss.apply(input, target, reduction=reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0):
    """½ d²/β where |d| < β, else |d| - ½β, for d = input - target: quadratic near 0, linear
    beyond ``beta`` (``beta=0`` is ``l1_loss``)."""
    reduction = _reduction(size_average, reduce, reduction)
    _floating("smooth_l1_loss", input)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _same_shape("smooth_l1_loss", input, target, broadcast_ok=True)
    if beta == 0:
        return L1Loss.apply(input, target, reduction=reduction)
    return SmoothL1Loss.apply(input, target, reduction=reduction, beta=float(beta))


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
    """½ d² where |d| < δ, else δ (|d| - ½δ), for d = input - target (δ times
    ``smooth_l1_loss`` with β = δ); ``weight`` (the input's shape) scales each element's loss."""
    reduction = _reduction(None, None, reduction)
    _floating("huber_loss", input)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _same_shape("huber_loss", input, target, broadcast_ok=True)
    if weight is None:
        return HuberLoss.apply(input, target, reduction=reduction, beta=float(delta))
    if weight.shape != input.shape:
        raise ValueError(f"huber_loss: Weights and input must have the same size (weight "
                         f"{tuple(weight.shape)}, input {tuple(input.shape)}).")
    loss = HuberLoss.apply(input, target, reduction="none", beta=float(delta)) * weight
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False):
    """Kullback-Leibler divergence Σ t (log t - input) of the target distribution from the
    log-probabilities ``input`` (``log_target``: the target is log-probabilities too).
    ``reduction="batchmean"`` divides the sum by the batch size, which is KL's definition;
    "mean" divides by every element, as PyTorch (which warns about it)."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    if input.dtype.kind not in "fc" or target.dtype.kind not in "fc":
        raise RuntimeError(f"kl_div: Integral inputs not supported (input {input.dtype}, target "
                           f"{target.dtype}); convert them with .float()")
    denominator = None
    if reduction == "batchmean":
        reduction, denominator = ("mean", input.shape[0]) if input.ndim else ("sum", None)
    elif reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return KLDivLoss.apply(input, target, reduction=reduction, log_target=bool(log_target),
                           denominator=denominator)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None, reduction: str = "mean"):
    """Negative log-likelihood of a Poisson target: exp(input) - target · input for log rates
    (``log_input``), else input - target · log(input + eps); ``full`` adds Stirling's
    approximation of log(target!) where target > 1."""
    reduction = _reduction(size_average, reduce, reduction)
    return PoissonNLLLoss.apply(input, target, log_input=bool(log_input), full=bool(full),
                                eps=eps, reduction=reduction)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean"):
    """Negative log-likelihood of ``target`` under N(input, var): ½ (log var + (input -
    target)² / var), var clamped at ``eps`` (+ ½ log 2π when ``full``). ``var``: the input's
    shape, or one dimension short of it or 1 in one dimension (shared by a row), or a float."""
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = _make(np.full(input.shape, float(var), input.dtype), None)
    elif (np.asarray(var._data) < 0).any():
        raise ValueError("var has negative entry/entries")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:  # one variance per row
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(
                v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"gaussian_nll_loss: var is of incorrect size: {tuple(var.shape)} "
                             f"for input {tuple(input.shape)} (expected the input's shape, one "
                             "dimension short of it, or 1 in one dimension)")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    return GaussianNLLLoss.apply(input, target, var, full=bool(full), eps=eps,
                                 reduction=reduction)


def cosine_embedding_loss(input1, input2, target, margin: float = 0, size_average=None,
                          reduce=None, reduction: str = "mean"):
    """1 - cos(input1, input2) where target = 1, max(0, cos - margin) where target = -1, the
    cosine over the last axis: inputs (N, D) with target (N,), or (D,) with target ()."""
    reduction = _reduction(size_average, reduce, reduction)
    if target.ndim > 1:
        raise RuntimeError(f"cosine_embedding_loss: 0D or 1D target tensor expected, multi-target "
                           f"not supported (target shape {tuple(target.shape)})")
    if input1.ndim != target.ndim + 1 or input2.ndim != target.ndim + 1:
        raise RuntimeError(f"cosine_embedding_loss: {target.ndim}D target tensor expects "
                           f"{target.ndim + 1}D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    return CosineEmbeddingLoss.apply(input1, input2, target, margin=float(margin),
                                     reduction=reduction)


def margin_ranking_loss(input1, input2, target, margin: float = 0, size_average=None,
                        reduce=None, reduction: str = "mean"):
    """max(0, -target · (input1 - input2) + margin): target 1 asks input1 to rank above input2
    by ``margin``, -1 below."""
    reduction = _reduction(size_average, reduce, reduction)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension "
                           f"but got sizes: input1: {tuple(input1.shape)}, input2: "
                           f"{tuple(input2.shape)}, target: {tuple(target.shape)} ")
    return MarginRankingLoss.apply(input1, input2, target, margin=float(margin),
                                   reduction=reduction)


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean"):
    """input where target = 1, max(0, margin - input) where target = -1 (input: a distance)."""
    reduction = _reduction(size_average, reduce, reduction)
    if input.dtype.kind not in "fc" and reduction == "mean":
        raise RuntimeError(f"hinge_embedding_loss: the mean of an {input.dtype} loss (input shape "
                           f"{tuple(input.shape)}); convert the input with .float()")
    return HingeEmbeddingLoss.apply(input, target, margin=float(margin), reduction=reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean"):
    """max(d(anchor, positive) - d(anchor, negative) + margin, 0), d the p-norm distance
    ‖u - v + eps‖_p over the last axis; ``swap`` uses min(d(a, n), d(p, n)) for the negative.
    Composed of ``pairwise_distance``, ``minimum`` and ``clamp``, as PyTorch composes it (their
    gradients are PyTorch's, at the kinks too)."""
    reduction = _reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"triplet_margin_loss: The anchor, positive, and negative tensors are "
                           f"expected to have the same number of dimensions, but got: anchor "
                           f"{anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    loss = clamp(margin + pairwise_distance(anchor, positive, p, eps) - d_neg, min=0)
    return _reduce_tensor(loss, reduction, loss.numel())


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction: str = "mean"):
    """Binary cross-entropy of logits ``input`` (N, C) against 0/1 ``target`` (N, C), averaged
    over the C classes (``weight`` (C,) weighs them): one loss per sample, then reduced."""
    reduction = _reduction(size_average, reduce, reduction)
    _floating("multilabel_soft_margin_loss", input)
    return MultiLabelSoftMarginLoss.apply(input, target, weight, reduction=reduction)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None,
                      size_average=None, reduce=None, reduction: str = "mean"):
    """Multi-class hinge loss of scores ``input`` (N, C) or (C,) at class indices ``target``
    (N,) or (): Σ_{j ≠ y} max(0, margin - input[y] + input[j])^p / C, weighted by weight[y]."""
    reduction = _reduction(size_average, reduce, reduction)
    _floating("multi_margin_loss", input)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise RuntimeError(f"multi_margin_loss: Expected non-empty vector or matrix with optional "
                           f"0-dim batch size, but got: {list(input.shape)}")
    c = input.shape[-1]
    n = input.shape[0] if input.ndim == 2 else 1
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"multi_margin_loss: expected target of integer class indices, got "
                           f"{t.dtype}")
    if t.size != n or t.ndim > 1 or (input.ndim == 2 and t.ndim != 1):
        raise RuntimeError(f"multi_margin_loss: target tensor should be 1-D with size equal to "
                           f"the number of input samples (batch size). Expected target size "
                           f"[{n}], but got {list(t.shape)}. Input has shape {list(input.shape)}.")
    if t.size and (t.min() < 0 or t.max() >= c):
        raise RuntimeError(f"multi_margin_loss: target out of range (targets must be in [0, {c}), "
                           f"got {t.min() if t.min() < 0 else t.max()})")
    if weight is not None and weight.shape != (c,):
        raise RuntimeError(f"multi_margin_loss: inconsistent weight size, expected {c} but got "
                           f"{list(weight.shape)}")
    if isinstance(weight, Tensor) and weight.requires_grad and is_grad_enabled():
        raise RuntimeError("The function 'multi_margin_loss' is not differentiable with respect "
                           "to argument 'weight'. This input cannot have requires_grad True.")
    return MultiMarginLoss.apply(input, target, weight, p=int(p), margin=float(margin),
                                 reduction=reduction)


from ..tensor import Tensor, _make  # noqa: E402
