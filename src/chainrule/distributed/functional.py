"""Collectives that autograd sees through (``torch.distributed.nn.functional``): their result is
part of the graph, so a loss computed from it sends gradients back to every rank's input."""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from .group import world


def _sum_over_ranks(x):
    """Σ over the ranks of ``x``: an array (summed by MPI now), or a Tensor (recorded)."""
    if isinstance(x, np.ndarray):
        w = world()
        out = np.array(x, order="C")
        w.comm.Allreduce(w.MPI.IN_PLACE, out, w.MPI.SUM)
        return out
    return AllReduceSum.apply(x)


class AllReduceSum(Function):
    """y = Σ_r x_r, the same on every rank;  dL/dx_r = Σ_r' dL_r'/dy: the gradients of every
    rank's loss, summed over the ranks (every rank's y depends on every rank's x)."""

    @staticmethod
    def forward(ctx, x):
        return _sum_over_ranks(x)

    @staticmethod
    def backward(ctx, grad_output):
        return _sum_over_ranks(grad_output)


def all_reduce(tensor, op=None, group=None):
    """The sum of ``tensor`` over the ranks, as a new tensor in the graph (out of place, unlike
    ``chainrule.distributed.all_reduce``). Only the sum is differentiable here."""
    from .collectives import ReduceOp

    if op not in (None, ReduceOp.SUM):
        raise ValueError(f"distributed.functional.all_reduce: only ReduceOp.SUM is "
                         f"differentiable, got {op!r}")
    from .group import _check_group

    _check_group(group)
    return AllReduceSum.apply(tensor)
