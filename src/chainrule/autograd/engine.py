"""The backward pass: nodes in reverse creation order, the chain rule node by node."""

from __future__ import annotations

from heapq import heappop, heappush

import numpy as np

from .grad_mode import _State

_ndarray = np.ndarray


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


def run_backward(tensors, grads, retain_graph=False, capture=None):
    """Backpropagate ``grads`` (arrays) from ``tensors``.

    Nodes run in reverse creation order (``seq``, as PyTorch's sequence numbers): every consumer
    of a value was created after it, so by the time a node runs, all the gradient that flows into
    it has arrived (summed in ``pending``). No separate topological sort, no recursion.

    Without ``capture``, gradients accumulate into ``.grad`` of the leaves (and of tensors that
    called ``retain_grad``). With ``capture`` (a dict whose keys are id(leaf) or a non-leaf's
    ``grad_fn``), they are returned there instead and no ``.grad`` is touched (``autograd.grad``).
    """
    pending = {}  # node -> gradient of its output, summed over its consumers so far
    # The pending node created last runs next. It is kept in ``top``, the others in a heap of
    # (-seq, node): on a chain, the common case, the heap stays empty.
    top = None
    heap = []
    for t, g in zip(tensors, grads):
        fn = t.grad_fn
        if fn is None:
            _deliver(t, g, True, capture)
        elif fn in pending:
            pending[fn] = pending[fn] + g
        else:
            pending[fn] = g
            top = fn if top is None else _wait(heap, top, fn)
    anomaly = _State.anomaly
    watch = capture is not None or _State.retains  # is any node's own gradient wanted?
    while top is not None:
        node = top
        top = heappop(heap)[1] if heap else None
        grad_output = pending.pop(node)
        if watch:
            _watch(node, grad_output, capture)
        try:
            in_grads = node.backward(node, grad_output)
        except SavedFreedError as err:
            raise SavedFreedError(f"{node.name()}: {err}") from None
        inputs = node.inputs
        single = type(in_grads) is not tuple  # one gradient, for a one-input op
        if len(inputs) != 1 if single else len(in_grads) != len(inputs):
            got = 1 if single else len(in_grads)
            raise RuntimeError(f"{node.name()}: backward returned {got} gradient"
                               f"{'' if got == 1 else 's'} but the op has {len(inputs)} inputs")
        if anomaly:
            from .anomaly import check_backward
            check_backward(node, (in_grads,) if single else in_grads)
        if not retain_graph:
            node.saved = FREED
        if single:
            t = inputs[0]
            fn = t.grad_fn
            if fn is not None and in_grads is not None:  # a chain, the common case: the loop
                g = in_grads                              # below, inlined for one edge
                data = t.data
                if type(g) is not _ndarray or g.shape != data.shape or g.dtype is not data.dtype:
                    g = _conform(g, data, node)
                if fn in pending:
                    pending[fn] = pending[fn] + g
                else:
                    pending[fn] = g
                    top = fn if top is None else _wait(heap, top, fn)
                continue
            edges = ((t, in_grads, True),)
        else:
            edges = zip(inputs, in_grads, node.needs_input_grad)
        previous = None
        for t, g, need in edges:
            if g is None or not need:
                continue
            data = t.data
            if type(g) is not _ndarray or g.shape != data.shape or g.dtype is not data.dtype:
                g = _conform(g, data, node)
            fn = t.grad_fn
            if fn is not None:  # an op made t: its node runs when all its gradient is in
                if fn in pending:
                    pending[fn] = pending[fn] + g
                else:
                    pending[fn] = g
                    top = fn if top is None else _wait(heap, top, fn)
            elif capture is not None:
                _deliver(t, g, False, capture)
            elif t.grad is not None:  # a leaf: accumulate
                t.grad.data += g
            else:  # a leaf's first gradient: _deliver's last lines, inlined (once per leaf)
                grad = _new(Tensor)
                # a copy where g is shared (another edge's, or a view), so .grad owns its array
                grad.data = g.copy() if g is grad_output or g is previous or g.base is not None else g
                grad.grad = grad.grad_fn = None
                grad.requires_grad = False
                t.grad = grad
            previous = g


def _wait(heap, top, fn):
    """Add ``fn`` to the pending nodes, of which ``top`` ran next so far; return the one of them
    created last (it runs next). Callers test ``top is None`` themselves: on a chain, that is all."""
    if fn.seq > top.seq:
        top, fn = fn, top
    heappush(heap, (-fn.seq, fn))
    return top


def _watch(node, grad_output, capture) -> None:
    """Hand a node's output gradient to ``autograd.grad`` or to a tensor that retains it."""
    if capture is not None:
        if node in capture:
            capture[node] = grad_output
    elif node._retained is not None and (t := node._retained()) is not None:
        _deliver(t, grad_output, True, None)


def _conform(g, data, node) -> np.ndarray:
    """A gradient as an array of its input's shape (summing broadcast axes) and dtype."""
    if type(g) is not np.ndarray:
        g = np.asarray(g, dtype=data.dtype)
    if g.shape != data.shape:
        g = unbroadcast(g, data.shape, node.name())
    if g.dtype != data.dtype:
        g = g.astype(data.dtype)
    return g


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
from ..tensor import Tensor, _make, _new  # noqa: E402
