"""Gradient clipping, as ``torch.nn.utils``: ``clip_grad_norm_`` scales every gradient so that
their joint norm is at most ``max_norm``; ``clip_grad_value_`` clamps each entry."""

from __future__ import annotations

import math
import types
import warnings

import numpy as np

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor, _make


def _vector_norm(a: np.ndarray, p: float) -> np.ndarray:
    """‖a‖_p over every entry, in a's dtype, as PyTorch's ``linalg.vector_norm``: the largest
    |a| for inf, the smallest for -inf, the count of entries that are not 0 for p = 0."""
    a = np.abs(a.reshape(-1))
    if p == math.inf:
        return a.max(initial=0)
    if p == -math.inf:
        return a.min()
    if p == 0:
        return np.asarray(np.count_nonzero(a), a.dtype)
    if p == 1:
        return a.sum()
    if p == 2:
        return np.sqrt((a * a).sum())
    return (a ** p).sum() ** (1 / p)


def _tensors(parameters) -> list:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The norm of all ``tensors`` together, as if concatenated into one vector (the norm of
    their norms). ``foreach`` is accepted for PyTorch's signature (there is one CPU path)."""
    tensors = _tensors(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return _make(np.zeros((), np.float32), None)
    norms = [_vector_norm(t._data, norm_type) for t in tensors]
    total = _vector_norm(np.array(norms, dtype=np.result_type(*norms)), norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           "is non-finite, so it cannot be clipped. To disable this error and "
                           "scale the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return _make(np.asarray(total), None)


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale the gradients of ``parameters`` in place by min(1, max_norm / (total_norm + 1e-6))
    (always multiplied, as PyTorch: a factor of exactly 1 when no clipping is needed)."""
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    if not grads:
        return
    total = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    coef = np.minimum(float(max_norm) / (total + 1e-6), 1.0)
    with no_grad(), np.errstate(invalid="ignore"):  # (a non-finite norm: inf · 0 is NaN)
        for g in grads:
            g.mul_(_make(np.asarray(coef, g.dtype), None))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients of ``parameters`` (a tensor or an iterable of them; those without a
    gradient are skipped) in place so that their joint ``norm_type``-norm is at most
    ``max_norm``; returns the norm before clipping. ``norm_type`` may be ``inf`` (the largest
    entry); a NaN or infinite norm raises with ``error_if_nonfinite``."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated spelling of ``clip_grad_norm_``."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient entry of ``parameters`` to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _tensors(parameters):
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)
