"""Shared for the optim tests: twin parameters in chainrule and torch, fed the same gradients."""

from __future__ import annotations

import numpy as np

import chainrule as cr

torch = None
try:
    import torch
except ImportError:  # pragma: no cover
    pass

SHAPES = [(3, 4), (5,), (2, 3, 2), (), (16, 8)]

# Elementwise relative error is meaningless for an element that passes near zero, and PyTorch's
# kernels fuse a multiply-add where NumPy rounds twice (1-ulp differences from the first step),
# so parameters (of unit scale) are compared with atol = rtol.
TOL = {np.float32: 1e-6, np.float64: 1e-12}


def make_params(dtype, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    init = [np.asarray(rng.standard_normal(s), dtype) for s in shapes]
    ours = [cr.tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    return ours, theirs


def gradients(dtype, steps, seed=1, shapes=SHAPES):
    """One list of gradients per step; their scale varies from step to step."""
    rng = np.random.default_rng(seed)
    return [[np.asarray(rng.standard_normal(s) * (0.1 + k % 4), dtype) for s in shapes]
            for k in range(steps)]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        if g is None:
            p.grad = None
        elif isinstance(p, cr.Tensor):
            p.grad = cr.tensor(np.asarray(g))  # np.asarray keeps a 0-d array's dtype
        else:
            p.grad = torch.tensor(np.asarray(g))


def assert_close(ours, theirs, dtype):
    tol = TOL[dtype]
    for p, q in zip(ours, theirs):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=tol, atol=tol)
