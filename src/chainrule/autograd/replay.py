"""Looking at a recorded graph from the side: walk it, and run one node again.

``check_graph`` and ``cr.viz`` use this; the engine does not. A node keeps its inputs (so their
forward values survive backward) but backward frees what the node saved, so to see a node's
backward again we re-run its forward on its inputs' arrays with a fresh context, then its backward.

Everything here passes arrays in and gets arrays back. chainrule's own ops take arrays; a
``Function`` of yours (``type(node).tensors``) takes Tensors, so it gets its inputs and gradients
wrapped as Tensors, runs with grad mode off and has its results unwrapped, as in the engine.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from .engine import unbroadcast
from .function import _wrap, backward_arrays
from .grad_mode import no_grad


class ReplayError(RuntimeError):
    """A node cannot be run again (an option of its forward was not kept, or its backward broke)."""


def walk(output) -> list:
    """The nodes that produced ``output``, in the order the backward pass visits them (output's
    node first): latest created first, as the engine (Kahn's order if nodes carry no ``seq``)."""
    root = output.grad_fn
    if root is None:
        return []
    consumers, stack, seen = {}, [root], [root]
    while stack:  # every node, and how many nodes consume its output
        for t in stack.pop().inputs:
            fn = getattr(t, "grad_fn", None)
            if fn is not None:
                consumers[fn] = consumers.get(fn, 0) + 1
                if consumers[fn] == 1:
                    seen.append(fn)
                    stack.append(fn)
    if all(hasattr(n, "seq") for n in seen):
        return sorted(seen, key=lambda n: -n.seq)
    order, ready = [], [root]
    while ready:
        node = ready.pop()
        order.append(node)
        for t in node.inputs:
            fn = getattr(t, "grad_fn", None)
            if fn is not None:
                consumers[fn] -= 1
                if consumers[fn] == 0:
                    ready.append(fn)
    return order


def outputs(order, output) -> dict:
    """node -> the Tensor it made. The graph keeps no link from a node to its output, but every
    output except the last is some other node's input."""
    made = {output.grad_fn: output} if output.grad_fn is not None else {}
    for node in order:
        for t in node.inputs:
            fn = getattr(t, "grad_fn", None)
            if fn is not None:
                made.setdefault(fn, t)
    return made


def wants_grad(t) -> bool:
    return getattr(t, "requires_grad", False) and hasattr(t, "grad_fn")


def arrays(node, dtype=None) -> list:
    """Copies of the node's positional inputs as its forward saw them (floats cast to ``dtype``
    if given): copies, because some forwards write into an input (batch norm's running mean)."""
    values = []
    for a in node.inputs:
        v = a.data if hasattr(a, "grad_fn") else a
        if isinstance(v, (np.ndarray, np.floating)):
            v = v.astype(dtype) if dtype is not None and v.dtype.kind == "f" else v.copy()
        values.append(v)
    return values


def options(node, out=None) -> dict:
    """The keyword options the node's forward was called with (``cat(dim=)``, ``x[index]``).

    Taken from ``node.kwargs`` if the core keeps them; otherwise from attributes of the same name
    that the forward stored on its context; a cast's dtype from its output.
    """
    kwargs = getattr(node, "kwargs", None)
    if kwargs is not None:
        return dict(kwargs)
    cls = type(node)
    if cls.op_name() == "to" and out is not None:  # Cast keeps the source dtype, not the target
        return {"dtype": out.dtype}
    params = list(inspect.signature(cls.forward).parameters.values())[1:]  # after ctx
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        named = [p for p in params if p.kind is p.KEYWORD_ONLY]
    else:
        named = params[len(node.inputs):]
    found = {}
    for p in named:
        if p.kind is p.VAR_KEYWORD:
            continue
        if p.name in node.__dict__:
            found[p.name] = node.__dict__[p.name]
        elif p.default is p.empty:
            raise ReplayError(f"{cls.op_name()}: the option {p.name!r} of its forward was not kept "
                              "on the node, so the op cannot be run again")
    return found


def replay(node, values=None, out=None, dtype=None, verify=False):
    """Run ``node``'s forward again on ``values`` (default: copies of its inputs' arrays) with a
    fresh context; returns ``(ctx, output array)``. Nothing is recorded. ``out``: the node's output
    tensor; with ``verify``, the new output must match it. ``dtype``: a float dtype that replaces
    any float dtype among the options (a cast to float32 checked in float64)."""
    cls = type(node)
    ctx = cls.__new__(cls)
    ctx.inputs = node.inputs
    ctx.needs_input_grad = node.needs_input_grad
    ctx.saved = ()
    if values is None:
        values = arrays(node)
    kwargs = options(node, out)
    if dtype is not None:
        kwargs = {k: dtype if isinstance(v, np.dtype) and v.kind == "f" else v
                  for k, v in kwargs.items()}
    try:
        y = np.asarray(_forward(cls, ctx, node.inputs, values, kwargs))
    except Exception as err:
        raise ReplayError(f"{cls.op_name()}: running its forward again failed: {err}") from err
    if verify and out is not None and not _same(y, out.data):
        raise ReplayError(f"{cls.op_name()}: running its forward again does not give the value "
                          "the graph recorded (an option of the op not kept on the node, a random "
                          "forward, or inputs changed in place since, e.g. by an optimizer step)")
    return ctx, y


def _forward(cls, ctx, inputs, values, kwargs):
    """``cls.forward`` on ``values``; a Function of yours gets Tensors where the node had them."""
    if not cls.tensors:
        return cls.forward(ctx, *values, **kwargs)
    args = [_wrap(np.asarray(v)) if hasattr(t, "grad_fn") else v for t, v in zip(inputs, values)]
    with no_grad():
        y = cls.forward(ctx, *args, **kwargs)
    return y.data if hasattr(y, "grad_fn") else y


def gradients(node, ctx, grad_output) -> tuple:
    """The node's backward (with context ``ctx``) on the array ``grad_output``: the gradients it
    returned (arrays or None) as a tuple, which may not hold one per input."""
    if type(node).tensors:
        grads = backward_arrays(ctx, grad_output)
    else:
        grads = type(node).backward(ctx, grad_output)
    return grads if type(grads) is tuple else (grads,)


def _same(y, recorded) -> bool:
    if y.shape != recorded.shape:
        return False
    if recorded.dtype.kind not in "fc":
        return bool(np.array_equal(y, recorded))
    rtol = 1e-9 if recorded.dtype.itemsize >= 8 and y.dtype == recorded.dtype else 1e-3
    scale = float(np.abs(recorded).max(initial=0.0))
    return bool(np.allclose(y, recorded, rtol=rtol, atol=rtol * max(scale, 1e-30), equal_nan=True))


def backward(node, ctx, grad_output) -> list:
    """Call the node's backward on ``grad_output``; for each input, ``(raw, reduced)``: the
    gradient the op returned and that gradient summed to the input's shape (``None`` where no
    gradient is wanted or returned)."""
    grads = gradients(node, ctx, grad_output)
    if len(grads) != len(node.inputs):
        raise ReplayError(f"{node.name()}: backward returned {len(grads)} gradients but the op has "
                          f"{len(node.inputs)} inputs")
    result = []
    for t, g in zip(node.inputs, grads):
        if g is None or not wants_grad(t):
            result.append(None)
            continue
        g = np.asarray(g)
        try:
            result.append((g, unbroadcast(g, t.data.shape, node.name())))
        except RuntimeError as err:
            raise ReplayError(str(err)) from None
    return result


@dataclass
class Trace:
    """One backward pass, kept whole: every node's output gradient and every edge's share."""

    order: list                                   # nodes, in the order backward visits them
    made: dict                                    # node -> its output Tensor
    grad: dict = field(default_factory=dict)      # node or id(leaf) -> gradient of its output
    edges: dict = field(default_factory=dict)     # (node, input index) -> (raw, reduced)
    branches: dict = field(default_factory=dict)  # node or id(leaf) -> [(consumer, input index)]
    contexts: dict = field(default_factory=dict)  # node -> the fresh ctx its backward ran with
    skipped: dict = field(default_factory=dict)   # node -> why it could not be run again
    blocked: set = field(default_factory=set)     # keys whose gradient is unknown because of it

    def key(self, t):
        """How a tensor is looked up here: by its node, or by id for a leaf."""
        return t.grad_fn if t.grad_fn is not None else id(t)


def trace(output, seed=None) -> Trace:
    """Run the backward pass from ``output`` (seeded with ``seed``, default ones) node by node,
    keeping what the engine throws away. A node that cannot be re-run leaves the gradients below
    it unknown (absent from ``grad``)."""
    order = walk(output)
    tr = Trace(order, outputs(order, output))
    if not order:
        return tr
    pending = {order[0]: np.ones(output.shape, output.dtype) if seed is None else np.asarray(seed)}
    blocked = tr.blocked
    for node in order:
        g = pending.pop(node, None)
        if node in blocked:
            _block(node, tr, blocked)
            continue
        if g is None:
            continue
        tr.grad[node] = g
        try:
            ctx, _ = replay(node, out=tr.made.get(node), verify=True)
            grads = backward(node, ctx, g)
        except ReplayError as err:
            tr.skipped[node] = str(err)
            _block(node, tr, blocked)
            continue
        tr.contexts[node] = ctx
        for i, (t, pair) in enumerate(zip(node.inputs, grads)):
            if pair is None:
                continue
            tr.edges[node, i] = pair
            k = tr.key(t)
            tr.branches.setdefault(k, []).append((node, i))
            if t.grad_fn is None:
                tr.grad[k] = tr.grad[k] + pair[1] if k in tr.grad else pair[1]
            else:
                pending[k] = pending[k] + pair[1] if k in pending else pair[1]
    for k in blocked:
        tr.grad.pop(k, None)
    return tr


def _block(node, tr, blocked):
    """The gradients of ``node``'s inputs are unknown: some of it would come through ``node``."""
    for t in node.inputs:
        if wants_grad(t):
            blocked.add(tr.key(t))
