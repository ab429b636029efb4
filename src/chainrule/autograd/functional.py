"""``backward`` and ``grad``: the two ways to run the backward pass."""

from __future__ import annotations

import numpy as np

from ..dtypes import ONE
from .engine import run_backward


def _seed(t, g, op):
    """The starting gradient for output ``t``: ones for a scalar, else ``g`` of t's shape."""
    if not t.requires_grad:
        raise RuntimeError(f"{op}: element 0 of tensors does not require grad and does not have "
                           "a grad_fn (did you create it under no_grad, or forget "
                           "requires_grad=True on its inputs?)")
    if g is None:
        data = t.data
        if data.size != 1:
            raise RuntimeError(f"{op}: grad can be implicitly created only for scalar outputs; "
                               f"the tensor has shape {t.shape}: pass gradient= of that shape, "
                               "or reduce it first (e.g. .sum())")
        one = ONE[data.dtype]  # read-only and shared: the engine never writes into a gradient
        return one if data.ndim == 0 else one.reshape(data.shape)
    g = np.asarray(getattr(g, "data", g), dtype=t.dtype)
    if g.shape != t.shape:
        raise RuntimeError(f"{op}: grad has shape {g.shape} but tensor has shape {t.shape}")
    return g


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate into ``.grad`` of every leaf the gradient of ``tensors`` (weighted by
    ``grad_tensors``), as ``torch.autograd.backward``."""
    if create_graph:
        raise NotImplementedError("backward: create_graph=True (gradients of gradients) is not "
                                  "supported: chainrule's backward runs on NumPy arrays")
    if inputs is not None:
        raise NotImplementedError("backward: inputs= is not supported; use autograd.grad")
    if grad_tensors is None and not isinstance(tensors, (list, tuple)):  # loss.backward()
        run_backward((tensors,), (_seed(tensors, None, "backward"),), bool(retain_graph))
        return
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"backward: got {len(grads)} gradients for {len(tensors)} tensors")
    seeds = [_seed(t, g, "backward") for t, g in zip(tensors, grads)]
    run_backward(tensors, seeds, bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned as a tuple of Tensors;
    no ``.grad`` is written (``torch.autograd.grad``)."""
    if create_graph:
        raise NotImplementedError("grad: create_graph=True (gradients of gradients) is not "
                                  "supported: chainrule's backward runs on NumPy arrays")
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    grads = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    seeds = [_seed(t, g, "grad") for t, g in zip(outputs, grads)]
    keys = [t.grad_fn if t.grad_fn is not None else id(t) for t in inputs]
    capture = dict.fromkeys(keys)
    run_backward(outputs, seeds, bool(retain_graph), capture=capture)
    result = []
    for i, (t, k) in enumerate(zip(inputs, keys)):
        g = capture[k]
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: one of the differentiated Tensors (input {i}, shape "
                                   f"{t.shape}) appears to not have been used in the graph. Set "
                                   "allow_unused=True if this is the desired behavior.")
            result.append(None)
        else:
            result.append(_make(np.array(g, dtype=t.dtype), None))
    return tuple(result)


from ..tensor import _make  # noqa: E402
