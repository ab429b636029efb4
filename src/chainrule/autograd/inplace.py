"""In-place ops inside a graph: ``y += 1``, ``y.relu_()``, ``y[mask] = 0`` on a tensor that is part
of a graph, as PyTorch allows them.

The op is computed out of place from the tensor's old value, written into the tensor's memory,
and its node becomes the tensor's ``grad_fn`` (input 0 of that node is the old value, with the old
history). Nodes made before the change keep using the old history: when the engine follows an
edge to a tensor whose ``grad_fn`` is newer than the node it comes from, it walks back along the
in-place nodes to the history the node saw (``history_at``).
"""

from __future__ import annotations

import numpy as np

from . import versions


def rebase(self, op: str, compute):
    """Change ``self`` in place to ``compute(old)``, where ``old`` is a tensor holding self's
    current value and history; returns ``self``."""
    fn = self.grad_fn
    if fn is not None and getattr(fn, "view", False):
        raise RuntimeError(
            f"{op}: this tensor is a view of another tensor of the graph ({fn.name()}), and "
            "chainrule does not follow an in-place change of a view back to its base; apply the "
            "op to a clone() of the view, or to the base")
    data = self.data
    if fn is None and versions._owner(data) is not data:
        raise RuntimeError(
            f"{op}: this tensor shares its memory with another array (it is a view, or made by "
            "detach() or from_numpy), so an in-place op that joins it to the graph would leave "
            "the other tensor out of the graph; clone() it first")
    old = _make(data, fn)
    new = compute(old)
    node = new.grad_fn
    if new.data.shape != data.shape:
        raise RuntimeError(f"{op}: output with shape {list(data.shape)} doesn't match the "
                           f"broadcast shape {list(new.data.shape)}")
    if node is None:  # nothing to record after all (e.g. the value is a constant)
        np.copyto(data, new.data, casting="unsafe")
        versions.bump(data)
        return self
    saved = getattr(node, "saved", ())
    if any(s is data for s in saved):  # the node keeps the old value: keep a copy of it
        before = data.copy()
        old.data = before
        saved = tuple(before if s is data else s for s in saved)
    np.copyto(data, new.data, casting="unsafe")
    versions.bump(data)
    node.saved = tuple(data if s is new.data else s for s in saved)  # its output is self now
    node.seq = _next_seq()  # made after the change it records
    node.inplace = True
    if fn is not None and fn._retained is not None:  # retain_grad() follows the tensor
        node._retained, fn._retained = fn._retained, None
    self.grad_fn = node
    self.requires_grad = True
    return self


def history_at(fn, seq):
    """The node that made a tensor as a node created at ``seq`` saw it: ``fn`` with the in-place
    nodes made after ``seq`` peeled off."""
    while fn is not None and fn.seq > seq:
        if not fn.inplace:
            raise RuntimeError(f"{fn.name()}: the graph's creation order is inconsistent")
        if getattr(fn, "view", False):
            raise RuntimeError(f"{fn.name()}: internal error, a view node was changed in place")
        fn = fn.inputs[0].grad_fn
    return fn


from .function import _next_seq  # noqa: E402
from ..tensor import _make  # noqa: E402
