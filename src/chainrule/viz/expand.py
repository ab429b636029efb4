"""``explain(..., expand_modules=True)``: a graph with each fused op opened into its primitive ops.

A fused op (linear, conv2d, batch_norm, cross_entropy, ...) is one node with a closed-form
backward. To show a learner what it does inside, the graph is built again: every node runs once
more on the new graph's tensors, and a fused one runs as its ``composite`` (the same function in
primitive ops, the one ``create_graph=True`` differentiates), so that its steps appear one by one:
linear as ``x @ Wᵀ`` then ``+ b`` (the bias summed over the batch), cross-entropy as log_softmax,
the pick of each row's target, the mean. The leaves are the caller's own tensors, so the
gradients at them are those of the fused graph.
"""

from __future__ import annotations

import numpy as np

from ..autograd import replay as R


def _linear(ctx, x, weight, bias):
    """linear in primitive ops: y = x @ Wᵀ + b."""
    y = x @ weight.T
    return y if bias is None else y + bias


def _softmax(ctx, x, dim):
    """softmax in primitive ops: e = exp(x − m), y = e / Σ e, with m the maximum along ``dim``
    (a constant: subtracting it changes no value and no gradient, and keeps exp from
    overflowing)."""
    m = x.detach().amax(dim=dim, keepdim=True)
    ctx.constants = {id(m): f"the maximum along dim {dim}, subtracted so that exp cannot "
                            "overflow: a constant, it changes neither value nor gradient"}
    e = (x - m).exp()
    return e / e.sum(dim=dim, keepdim=True)


# ops without a ``composite`` of their own that still open up
EXPANSIONS = {"linear": _linear, "softmax": _softmax}


def expandable(node) -> bool:
    """Does the node open into primitive ops?"""
    cls = type(node)
    return cls.op_name() in EXPANSIONS or (cls.composite is not None and not cls.tensors)


def expand(output):
    """``(new output, new, notes)``: ``output``'s graph built again with each fused op opened
    into its primitive ops; ``new``, node of the old graph -> the tensor it made in the new one
    (the leaves are kept: they are the same tensors; see ``counterpart``); ``notes``, id of a
    constant an opened op made -> what it is."""
    import chainrule as cr

    graph = R.Graph(output)
    for node in graph.order:
        if getattr(node, "inplace", False):
            raise ValueError(f"explain(expand_modules=True): {node.name()} is an in-place op; "
                             "explain this graph with expand_modules=False")
    new = {}  # node -> its output in the new graph
    notes = {}  # id(tensor) -> what it is, for the constants an expansion made
    with cr.enable_grad():
        for node in reversed(graph.order):  # forward order
            inputs = [new.get(t.grad_fn, t) if hasattr(t, "grad_fn") and t.grad_fn is not None
                      else t for t in graph.inputs(node)]
            try:
                _, ctx, _ = R.rerun(graph, node)
            except R.ReplayError as err:
                raise ValueError(f"explain(expand_modules=True): {err}") from None
            kwargs = R.options(node, graph.made[node])
            op = type(node).op_name()
            if op in EXPANSIONS:
                y = EXPANSIONS[op](ctx, *inputs, **kwargs)
            elif expandable(node):
                y = type(node).composite(ctx, *inputs, **kwargs)
            else:
                y = type(node).apply(*inputs, **kwargs)
            tol = 1e-6 if y._data.dtype.itemsize >= 8 else 1e-3  # float32 sums in another order
            scale = float(np.abs(graph.value(node)).max(initial=1.0))
            if not np.allclose(y._data, graph.value(node), rtol=tol, atol=tol * scale,
                               equal_nan=True):
                raise ValueError(f"explain(expand_modules=True): {node.name()} built again from "
                                 "its primitive ops does not give the value it had")
            new[node] = y
            notes.update(getattr(ctx, "constants", {}))
    return new[output.grad_fn], new, notes


def counterpart(new, t):
    """``t``'s tensor in the new graph (a leaf, or anything not in the graph, is itself)."""
    return new.get(getattr(t, "grad_fn", None), t)
