"""The backward pass: topological order by child counts (Kahn), chain rule node by node."""

from __future__ import annotations

import numpy as np

from .grad_mode import _State


def unbroadcast(grad: np.ndarray, shape: tuple, op: str = "backward") -> np.ndarray:
    """Sum ``grad`` down to ``shape``: over the leading axes broadcasting added, then over the
    axes that were 1. The gradient of a broadcast input is the sum over the broadcast axes."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0:
        raise RuntimeError(f"{op}: gradient of shape {grad.shape} cannot be reduced to {shape}")
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1)
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    if lead:
        out = out.reshape(out.shape[lead:])
    if out.shape != shape:
        raise RuntimeError(f"{op}: gradient has shape {grad.shape} but its input has shape {shape}")
    return out


def _order(roots):
    """Count, for every node reachable from ``roots``, how many nodes consume its output."""
    consumers = {}
    stack = list(roots)
    seen = set(stack)
    while stack:
        node = stack.pop()
        for t in node.inputs:
            if isinstance(t, Tensor) and (fn := t.grad_fn) is not None:
                consumers[fn] = consumers.get(fn, 0) + 1
                if fn not in seen:
                    seen.add(fn)
                    stack.append(fn)
    return consumers


def run_backward(tensors, grads, retain_graph=False, capture=None):
    """Backpropagate ``grads`` (arrays) from ``tensors``.

    Without ``capture``, gradients accumulate into ``.grad`` of the leaves (and of tensors that
    called ``retain_grad``). With ``capture`` (a dict id(tensor) -> None), they are returned there
    instead and no ``.grad`` is touched (``autograd.grad``); a non-leaf is captured by its node:
    ``capture[t.grad_fn]``.
    """
    pending = {}  # node -> gradient of its output, summed over its consumers so far
    roots = []
    for t, g in zip(tensors, grads):
        if t.grad_fn is None:
            _deliver(t, g, True, capture)
        else:
            fn = t.grad_fn
            pending[fn] = pending[fn] + g if fn in pending else g
            if fn not in roots:
                roots.append(fn)
    consumers = _order(roots)
    ready = [fn for fn in roots if fn not in consumers]
    anomaly = _State.anomaly
    while ready:
        node = ready.pop()
        inputs = node.inputs
        grad_output = pending.pop(node, None)
        if capture is not None and node in capture:
            capture[node] = grad_output
        if grad_output is None:  # nothing flowed here: only release the children
            in_grads = (None,) * len(inputs)
        else:
            if capture is None and node._retained is not None and (t := node._retained()) is not None:
                _deliver(t, grad_output, True, None)
            try:
                in_grads = node.backward(node, grad_output)
            except SavedFreedError as err:
                raise SavedFreedError(f"{node.name()}: {err}") from None
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if len(in_grads) != len(inputs):
                raise RuntimeError(
                    f"{node.name()}: backward returned {len(in_grads)} gradients but the op has "
                    f"{len(inputs)} inputs")
            if anomaly:
                from .anomaly import check_backward
                check_backward(node, in_grads)
        if not retain_graph:
            node.saved = FREED
        previous = None
        for t, g in zip(inputs, in_grads):
            if not isinstance(t, Tensor):
                continue
            fn = t.grad_fn
            if g is not None and t.requires_grad:
                data = t.data
                if type(g) is not np.ndarray:
                    g = np.asarray(g, dtype=data.dtype)
                if g.shape != data.shape:
                    g = unbroadcast(g, data.shape, node.name())
                if g.dtype != data.dtype:
                    g = g.astype(data.dtype)
                if fn is None:
                    shared = g is grad_output or g is previous or g.base is not None
                    _deliver(t, g, shared, capture)
                else:
                    pending[fn] = pending[fn] + g if fn in pending else g
                previous = g
            if fn is not None:
                left = consumers[fn] - 1
                consumers[fn] = left
                if left == 0:
                    ready.append(fn)


def _deliver(t, g, shared, capture):
    """Add ``g`` to a leaf's (or retained tensor's) ``.grad``, or hand it to ``capture``."""
    if capture is not None:
        key = id(t) if t.grad_fn is None else t.grad_fn
        if key in capture:
            capture[key] = g if capture[key] is None else capture[key] + g
        return
    if t.grad is None:
        t.grad = _make(g.copy() if shared else g, None)
    else:
        t.grad.data += g


from .function import FREED, SavedFreedError  # noqa: E402
from ..tensor import Tensor, _make  # noqa: E402
