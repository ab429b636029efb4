"""A recorded backward (``create_graph=True``): each node's backward runs on Tensors, so that the
backward pass is itself a graph, which can be differentiated again.

The formula is the op's own (``Function.backward``), written in operations that arrays and
Tensors share. What changes is what it gets: the gradient as a Tensor, and the arrays the node
saved handed back as the graph's own tensors (its inputs, its output), so that the recorded
formula depends on them. A fused op differentiates its ``composite`` instead.
"""

from __future__ import annotations

import numpy as np

_ndarray = np.ndarray


def conform_graph(g, data, node):
    """``_conform`` for a recorded backward: the gradient as a Tensor (summing and casting are
    recorded too)."""
    if not isinstance(g, Tensor):
        g = _make(np.asarray(g, dtype=data.dtype), None)
    if g._data.shape != data.shape:
        g = unbroadcast(g, data.shape, node.name())
    if g._data.dtype != data.dtype:
        g = g.to(data.dtype)
    return g


def graph_backward(node, grad_output, out):
    """Run a node's backward on Tensors, so that it is recorded: its saved arrays are handed
    over as the graph's own tensors (its inputs, and its output ``out``)."""
    cls = type(node)
    saved = getattr(node, "saved", ())
    if saved is FREED:
        FREED._fail()
    if cls.once_differentiable:
        return _once(node, grad_output)
    if cls.composite is not None and not cls.tensors:
        return _composite_backward(node, grad_output)
    node.saved = _unpack(node, saved, out)
    try:
        return cls.backward(node, grad_output)
    finally:
        node.saved = saved


def _unpack(node, saved, out):
    """What ``node`` saved, with each input's or output's array replaced by that tensor."""
    if not saved:
        return saved
    inputs = node.inputs
    unpacked = []
    for s in saved:
        data = s._data if isinstance(s, Tensor) else s
        if type(data) is _ndarray:
            for t in inputs:
                if isinstance(t, Tensor) and t._data is data:
                    s = t
                    break
            else:
                if out is not None and out._data is data:
                    s = out
        unpacked.append(s)
    return tuple(unpacked)


def _composite_backward(node, grad_output):
    """A fused op's gradients, recorded: differentiate its ``composite`` (the same function in
    primitive ops) at the node's inputs."""
    cls = type(node)
    inputs = node.inputs
    # the composite runs on the inputs as they are now: they must be as the forward saw them
    check_saved(node, [t._data for t in inputs if isinstance(t, Tensor)], None, inputs=True)
    wanted = [i for i, need in enumerate(node.needs_input_grad) if need]
    floor = _next_seq()
    y = cls.composite(node, *inputs, **getattr(node, "kwargs", {}))
    keys = [_key(inputs[i]) for i in wanted]
    capture = dict.fromkeys(keys)
    needed = _needed([y], set(keys), floor)
    _run_general((y,), (grad_output,), True, True, capture, needed)
    grads = [None] * len(inputs)
    for i, k in zip(wanted, keys):
        grads[i] = capture[k]
    return tuple(grads)


def _once(node, grad_output):
    """A backward marked ``once_differentiable``: run on arrays; the results get a node that
    raises if anyone differentiates through it (PyTorch's DelayedError)."""
    node_grads = node.backward(node, grad_output._data)  # arrays in, arrays out
    single = type(node_grads) is not tuple
    grads = (node_grads,) if single else node_grads
    wrapped = tuple(None if g is None else _DelayedError.apply(grad_output, g) for g in grads)
    return wrapped[0] if single else wrapped




from .engine import _key, _needed, _run_general, unbroadcast  # noqa: E402
from .function import FREED, _DelayedError, _next_seq  # noqa: E402
from .versions import check_saved  # noqa: E402
from ..tensor import Tensor, _make  # noqa: E402
