"""Loss functions, each one fused node: its backward is the closed form, not a chain of small ops.

Conventions as PyTorch: ``reduction`` is "mean" (the default), "sum" or "none"; class scores sit on
axis 1 of an (N, C, d1, ...) input, or axis 0 of an unbatched (C,) input.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..autograd.function import Function
from .activation import LogSoftmax
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
        w = weight.data if isinstance(weight, Tensor) else weight
        if target.shape == z.shape and target.dtype.kind == "f":  # class probabilities
            q = _class_last(target)
            q = q * (1 - eps) + eps / c if eps else q
            loss = -((q if w is None else q * w) * logp).sum(axis=1)
            denominator = m
        else:
            t, rows, valid = _class_targets("cross_entropy", z.data, target.data, w, ignore_index)
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
    return BinaryCrossEntropy.apply(input, target, weight, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None):
    """``binary_cross_entropy(sigmoid(input), target)`` in one stable node (log σ by
    log-add-exp, so no overflow for large logits); ``pos_weight`` weighs the positive term,
    broadcast along the last (class) axis."""
    reduction = _reduction(size_average, reduce, reduction)
    _same_shape("binary_cross_entropy_with_logits", input, target, broadcast_ok=False)
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


from ..tensor import Tensor  # noqa: E402
