"""Matrix multiplication: 1-D, 2-D and batched, as ``numpy.matmul``."""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function

_ndarray = np.ndarray


class MatMul(Function):
    """Y = A @ B;  dL/dA = dL/dY @ Bᵀ,  dL/dB = Aᵀ @ dL/dY  (batch axes summed by the engine)"""

    op = "matmul"
    needed_by = (1, 0)  # a serves b's gradient, b serves a's

    @staticmethod
    def forward(ctx, a, b):
        ctx.saved = (a, b)
        try:
            if 0 < a.ndim < 3 and 0 < b.ndim < 3:
                return a.dot(b)  # the same product for 1-D and 2-D; NumPy's dot costs less per call
            return a @ b
        except ValueError:  # the checks run only here: on small tensors they would cost 10 %
            pass
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError("matmul: both arguments to matmul need to be at least 1D, but they "
                               f"are {a.ndim}D and {b.ndim}D")
        if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
            raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} do not align")
        raise RuntimeError(f"matmul: batch shapes of {a.shape} and {b.shape} cannot be broadcast")

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved
        na, nb = a.ndim, b.ndim
        need = ctx.needs_input_grad
        if na == 2 and nb == 2:
            return (_dot(grad_output, b.T) if need[0] else None), (_dot(a.T, grad_output) if need[1] else None)
        if na == 1 and nb == 1:
            return (grad_output * b if need[0] else None), (grad_output * a if need[1] else None)
        if na == 2 and nb == 1:  # matrix @ vector: y_i = Σ_j a_ij b_j
            return ((grad_output[:, None] * b if need[0] else None),
                    (grad_output.dot(a) if type(a) is _ndarray else grad_output @ a)  # _dot, inlined
                    if need[1] else None)
        if na == 1 and nb == 2:  # vector @ matrix: y_j = Σ_i a_i b_ij
            return (_dot(b, grad_output) if need[0] else None), (a[:, None] * grad_output if need[1] else None)
        g = grad_output
        if na == 1:
            g = np.expand_dims(g, -2)
        if nb == 1:
            g = np.expand_dims(g, -1)
        ga = gb = None
        if need[0]:
            ga = g @ np.swapaxes(b[:, None] if nb == 1 else b, -1, -2)
            if na == 1:
                ga = ga[..., 0, :]
        if need[1]:
            gb = np.swapaxes(a[None, :] if na == 1 else a, -1, -2) @ g
            if nb == 1:
                gb = gb[..., 0]
        return ga, gb


def _dot(a, b):
    """a @ b for 1-D and 2-D operands: NumPy's ``dot`` on arrays (cheaper per call than ``@``),
    the recorded matmul on Tensors. (A backward gets all arrays, or all Tensors: the engine
    hands a recorded backward its saved inputs as Tensors.)"""
    return a.dot(b) if type(a) is _ndarray else a @ b


def matmul(a, b):
    return a @ b


def mm(a, b):
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expects 2D tensors, got {a.ndim}D and {b.ndim}D")
    return a @ b


def dot(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"dot: expects 1D tensors, got {a.ndim}D and {b.ndim}D")
    return a @ b
