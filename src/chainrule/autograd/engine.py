"""The backward pass: nodes in reverse creation order, the chain rule node by node.

``backward`` accumulates gradients into ``.grad``; ``grad`` returns them. With
``create_graph=True`` the same pass runs on Tensors instead of arrays, so that every backward
formula is itself recorded as a graph: the gradient can be differentiated again (Hessians,
gradient penalties, Newton's method), to any order.
"""

from __future__ import annotations

from heapq import heappop, heappush

import numpy as np

from ..dtypes import ONE
from . import state
from .grad_mode import _set

_ndarray = np.ndarray


def unbroadcast(grad, shape: tuple, op: str = "backward"):
    """Sum ``grad`` down to ``shape``: over the leading axes broadcasting added, then over the
    axes that were 1. The gradient of a broadcast input is the sum over the broadcast axes.
    (An array or a Tensor: ``sum`` and ``reshape`` are spelled alike on both.)"""
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


# -- the pass -----------------------------------------------------------------------------------

_callbacks = []  # run once the current backward pass has finished (queue_callback)


def queue_callback(callback) -> None:
    """Call ``callback()`` once the backward pass now running has finished, after every
    ``.grad`` is written (PyTorch's ``Variable._execution_engine.queue_callback``): how
    DistributedDataParallel waits for its gradient averaging at the end of backward."""
    if not callable(callback):
        raise TypeError(f"queue_callback: expected a callable, got {type(callback).__name__}")
    _callbacks.append(callback)


def _run_callbacks() -> None:
    while _callbacks:
        _callbacks.pop(0)()


def run_backward(tensors, grads, retain_graph=False, create_graph=False):
    """Backpropagate ``grads`` from ``tensors``: arrays, or Tensors with ``create_graph``.

    Nodes run in reverse creation order (``seq``, as PyTorch's sequence numbers): every consumer
    of a value was created after it, so by the time a node runs, all the gradient that flows into
    it has arrived (summed in ``pending``). No separate topological sort, no recursion.

    Gradients accumulate into ``.grad`` of the leaves (and of tensors that called
    ``retain_grad``).

    This function runs the plain pass (``loss.backward()``), on arrays, with its commonest step
    inlined: on small tensors this bookkeeping, not NumPy, is most of a training step's cost
    (``python benchmarks/icount.py W4``). ``_run_general`` below runs every other pass.
    """
    if create_graph or state.hooks:
        return _run_general(tensors, grads, retain_graph, create_graph)
    pending = {}  # node -> gradient of its output, summed over its consumers so far
    # The pending node created last runs next. It is kept in ``top``, the others in a heap of
    # (-seq, node): on a chain, the common case, the heap stays empty.
    top = None
    heap = []
    for t, g in zip(tensors, grads):
        fn = t.grad_fn
        if fn is None:
            _deliver(t, g, True, None, False, None)
        elif fn in pending:
            pending[fn] = pending[fn] + g
        else:
            pending[fn] = g
            top = fn if top is None else _wait(heap, top, fn)
    anomaly = state.anomaly
    retains = state.retains  # does any tensor retain its gradient?
    # do edges need the history their node saw (history_at)? Once a node older than the latest
    # in-place change runs, so are all that follow it; and if any tensor was detach_()ed after use
    special = state.detached
    while top is not None:
        node = top
        top = heappop(heap)[1] if heap else None
        grad_output = pending.pop(node)
        if retains:
            grad_output = _watch(node, grad_output, None, False)
        # made before the latest in-place change (which a hook or a backward of yours may have
        # made just now)? Then check what it saved, and follow its inputs back to the history
        # it saw (below): nodes made since need neither
        if node.seq < versions.latest:
            special = True
            _check_versions(node, None)
        try:
            in_grads = node.backward(node, grad_output)  # a Function of yours: see _apply_tensors
        except SavedFreedError as err:
            raise SavedFreedError(f"{node.name()}: {err}") from None
        inputs = node.inputs
        single = type(in_grads) is not tuple  # one gradient, for a one-input op
        if len(inputs) != 1 if single else len(in_grads) != len(inputs):
            in_grads, single = _counted(node, in_grads, single), False
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
                data = t._data
                if type(g) is not _ndarray or g.shape != data.shape or g.dtype is not data.dtype:
                    g = _conform(g, data, node)
                if special:  # t may have been changed in place since: the history node saw
                    fn = history_at(fn, node.seq, t)
                    if fn is None:
                        continue
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
            data = t._data
            if type(g) is not _ndarray or g.shape != data.shape or g.dtype is not data.dtype:
                g = _conform(g, data, node)
            fn = t.grad_fn
            if special:
                fn = history_at(fn, node.seq, t)
            if fn is not None:  # an op made t: its node runs when all its gradient is in
                if fn in pending:
                    pending[fn] = pending[fn] + g
                else:
                    pending[fn] = g
                    top = fn if top is None else _wait(heap, top, fn)
            elif t._grad is not None:  # a leaf: accumulate (in place: a new version of .grad)
                t._grad._data += g
                versions.bump(t._grad._data)
            else:  # a leaf's first gradient: _deliver's last lines, inlined (once per leaf)
                grad = _new(Tensor)
                # a copy where g may be shared (a view, another edge's, or the incoming one):
                # .grad owns its array
                grad._data = (g.copy() if g is grad_output or g.base is not None or g is previous
                             or len(inputs) > 2 else g)
                grad._grad = grad.grad_fn = None
                grad.requires_grad = False
                t._grad = grad
            previous = g
    if _callbacks:
        _run_callbacks()


def _run_general(tensors, grads, retain_graph, create_graph, capture=None, needed=None):
    """``run_backward`` for every other pass: recorded (``create_graph``: the gradients are
    Tensors, each node's backward runs on the graph's own tensors), with hooks on tensors, or
    for ``autograd.grad``: with ``capture`` (a dict whose keys are id(leaf) or a non-leaf's
    ``grad_fn``) the gradients go there and no ``.grad`` is touched, and only the nodes in
    ``needed`` run (the others only hand their gradient to ``capture``)."""
    graph = create_graph
    outs = {} if graph else None  # node -> its output tensor (a recorded backward needs it)
    pending, heap, top = {}, [], None
    leaves = _LeafHooks(tensors) if state.hooks and capture is None else None

    def push(t, g, node):  # gradient g flows into tensor t (from ``node``, None for a root)
        nonlocal top
        fn = t.grad_fn
        if node is not None and (fn is None or fn.seq > node.seq):
            fn = history_at(fn, node.seq, t)
        if fn is None:
            _deliver(t, g, True, capture, graph, leaves)
            return
        if graph:
            outs.setdefault(fn, t)
        if fn in pending:
            pending[fn] = pending[fn] + g
        else:
            pending[fn] = g
            top = fn if top is None else _wait(heap, top, fn)

    for t, g in zip(tensors, grads):
        push(t, g, None)
    anomaly = state.anomaly
    # a recorded backward records (what it records are not forward ops for anomaly mode to check);
    # otherwise nothing does, hooks included, as in PyTorch
    prev_mode = _set(graph)
    state.anomaly = False if graph else anomaly
    try:
        while top is not None:
            node = top
            top = heappop(heap)[1] if heap else None
            grad_output = pending.pop(node)
            run = needed is None or node in needed  # else it only hands its gradient to capture
            if node._hooks is not None or node._retained is not None or capture is not None:
                grad_output = _watch(node, grad_output, capture, graph, run)
            if not run:
                continue
            if node.seq < versions.latest:
                _check_versions(node, outs)
            try:
                if graph:
                    in_grads = graph_backward(node, grad_output, outs.get(node))
                else:
                    in_grads = node.backward(node, grad_output)
            except SavedFreedError as err:
                raise SavedFreedError(f"{node.name()}: {err}") from None
            single = type(in_grads) is not tuple
            if len(node.inputs) != 1 if single else len(in_grads) != len(node.inputs):
                in_grads, single = _counted(node, in_grads, single), False
            if single:
                in_grads = (in_grads,)
            if anomaly:
                from .anomaly import check_backward
                check_backward(node, in_grads)
            if not retain_graph:
                node.saved = FREED
            for t, g, need in zip(node.inputs, in_grads, node.needs_input_grad):
                if not need:
                    continue
                if g is None:
                    if leaves is not None:
                        leaves.arrive(t, None, node)
                    continue
                data = t._data
                if graph:
                    if (not isinstance(g, Tensor) or g._data.shape != data.shape
                            or g._data.dtype != data.dtype):
                        g = conform_graph(g, data, node)
                elif type(g) is not _ndarray or g.shape != data.shape or g.dtype is not data.dtype:
                    g = _conform(g, data, node)
                push(t, g, node)
        if leaves is not None:
            leaves.finish()
        _run_callbacks()
    finally:
        _callbacks.clear()  # (a pass that failed drops its callbacks, as PyTorch's)
        _set(prev_mode)
        state.anomaly = anomaly


def _counted(node, in_grads, single):
    """A backward's gradients when their number is not its inputs': extra trailing Nones are
    dropped (PyTorch allows them), anything else is an error naming the op."""
    n = len(node.inputs)
    if not single and len(in_grads) > n and all(g is None for g in in_grads[n:]):
        return tuple(in_grads[:n])
    got = 1 if single else len(in_grads)
    raise RuntimeError(f"{node.name()}: backward returned {got} gradient{'' if got == 1 else 's'} "
                       f"but the op has {n} inputs")


def _wait(heap, top, fn):
    """Add ``fn`` to the pending nodes, of which ``top`` ran next so far; return the one of them
    created last (it runs next). Callers test ``top is None`` themselves: on a chain, that is all."""
    if fn.seq > top.seq:
        top, fn = fn, top
    heappush(heap, (-fn.seq, fn))
    return top


def _watch(node, grad_output, capture, graph, run=True):
    """A node's output gradient, complete: through the hooks registered on its output tensor,
    to that tensor's ``.grad`` if it retains it, and to ``autograd.grad``. (A node that will not
    run, and is not asked for, is left alone: PyTorch would not reach it.)"""
    captured = capture is not None and node in capture
    if not (run or captured):
        return grad_output
    hooks = node._hooks
    if hooks is not None and hooks[0]:
        grad_output = through_hooks(hooks[0], grad_output, graph)
    if captured:
        capture[node] = grad_output
    if node._retained is not None and (t := node._retained()) is not None:
        if t._grad is None or graph:
            _deliver(t, grad_output, True, None, graph, None)
        else:  # a retained gradient is summed out of place, as PyTorch's retain_grad hook does
            t._grad = _make(t._grad._data + np.asarray(getattr(grad_output, "_data", grad_output)),
                            None)
    return grad_output


def _check_versions(node, outs):
    saved = getattr(node, "saved", ())
    if saved is not FREED and saved:
        out = outs.get(node) if outs is not None else None
        if out is None and node._retained is not None:
            out = node._retained()
        check_saved(node, saved, out)


def _conform(g, data, node) -> np.ndarray:
    """A gradient as an array of its input's shape (summing broadcast axes) and dtype."""
    if type(g) is np.ndarray and g.shape == data.shape and g.dtype is data.dtype:
        return g
    if type(g) is not np.ndarray:
        g = np.asarray(g._data if isinstance(g, Tensor) else g, dtype=data.dtype)
    if g.shape != data.shape:
        g = unbroadcast(g, data.shape, node.name())
    if g.dtype != data.dtype:
        g = g.astype(data.dtype)
    return g


def _deliver(t, g, shared, capture, graph, leaves):
    """Add ``g`` to a leaf's (or retained tensor's) ``.grad``, or hand it to ``capture``."""
    if capture is not None:
        key = id(t) if t.grad_fn is None else t.grad_fn
        if key in capture:
            capture[key] = g if capture[key] is None else capture[key] + g
        return
    if leaves is not None and leaves.arrive(t, g, None):
        return
    if graph:  # .grad becomes part of the graph: accumulate out of place, as PyTorch
        if not isinstance(g, Tensor):
            g = _make(np.asarray(g), None)
        if t._grad is None:
            t._grad = g.clone() if shared else g
        else:
            t._grad = t._grad + g
        return
    if isinstance(g, Tensor):
        g = g._data
    if t._grad is None:
        t._grad = _make(g.copy() if shared else g, None)
    else:  # in place, as PyTorch's first-order backward (also into a .grad create_graph made)
        t._grad._data += g
        versions.bump(t._grad._data)


# -- what autograd.grad runs --------------------------------------------------------------------

def _key(t):
    """How capture names a tensor: its node, or id() for a leaf."""
    return id(t) if t.grad_fn is None else t.grad_fn


def _needed(roots, keys, floor=-1):
    """The nodes ``grad`` must run to reach ``keys``: those with a path to one of them. Nodes
    made before ``floor`` are not looked into (nothing below it is asked for)."""
    # every node reachable from the roots, with the nodes of its inputs (its history as it saw it)
    edges, stack = {}, [t.grad_fn for t in roots if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node in edges:
            continue
        below, reach = [], False  # its inputs' nodes; does an input itself answer a key?
        for t in node.inputs:
            if not isinstance(t, Tensor):
                continue
            fn = t.grad_fn
            if fn is None or fn.seq > node.seq:
                fn = history_at(fn, node.seq, t)
            if fn is None:
                reach = reach or id(t) in keys
                continue
            if fn in keys:
                reach = True
            if fn.seq >= floor:
                below.append(fn)
                stack.append(fn)
        edges[node] = (below, reach)
    # a node's inputs were made before it: in creation order, each node's answer is ready
    leads = {}
    for node in sorted(edges, key=_seq):
        below, reach = edges[node]
        leads[node] = reach or any(leads.get(fn, False) for fn in below)
    return {node for node, found in leads.items() if found}


def _seq(node):
    return node.seq


# -- the two entry points --------------------------------------------------------------------------

def _seed(t, g, op, graph):
    """The starting gradient for output ``t``: ones for a scalar, else ``g`` of t's shape."""
    if not t.requires_grad:
        raise RuntimeError(f"{op}: element 0 of tensors does not require grad and does not have "
                           "a grad_fn (did you create it under no_grad, or forget "
                           "requires_grad=True on its inputs?)")
    if g is None:
        data = t._data
        if data.size != 1:
            raise RuntimeError(f"{op}: grad can be implicitly created only for scalar outputs; "
                               f"the tensor has shape {t.shape}: pass gradient= of that shape, "
                               "or reduce it first (e.g. .sum())")
        one = ONE[data.dtype]  # read-only and shared: the engine never writes into a gradient
        one = one if data.ndim == 0 else one.reshape(data.shape)
        return _make(one, None) if graph else one
    if graph and isinstance(g, Tensor):
        if g.shape != t.shape:
            raise RuntimeError(f"{op}: grad has shape {g.shape} but tensor has shape {t.shape}")
        return g if g.dtype == t.dtype else g.to(t.dtype)
    g = np.asarray(getattr(g, "_data", g), dtype=t.dtype)
    if g.shape != t.shape:
        raise RuntimeError(f"{op}: grad has shape {g.shape} but tensor has shape {t.shape}")
    return _make(g, None) if graph else g


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate into ``.grad`` of every leaf the gradient of ``tensors`` (weighted by
    ``grad_tensors``), as ``torch.autograd.backward``. With ``create_graph=True`` the backward
    pass is recorded, so ``.grad`` can be differentiated again; ``inputs``: accumulate into
    these tensors' ``.grad`` only (leaves or not)."""
    if state.rebased:  # a stale view as the output? its fresh history (autograd/inplace.py)
        for t in _as_list(tensors):
            fresh(t)
    if (grad_tensors is None and inputs is None and not create_graph
            and not isinstance(tensors, (list, tuple))):  # loss.backward()
        run_backward((tensors,), (_seed(tensors, None, "backward", False),), bool(retain_graph))
        return
    if retain_graph is None:
        retain_graph = create_graph
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"backward: got {len(grads)} gradients for {len(tensors)} tensors")
    seeds = [_seed(t, g, "backward", create_graph) for t, g in zip(tensors, grads)]
    if inputs is None:
        run_backward(tensors, seeds, bool(retain_graph), create_graph)
        return
    inputs = list({id(t): t for t in _as_list(inputs)}.values())  # each once
    if not inputs:
        raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty.")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"backward: input {i} of inputs= does not require grad")
    keys = [_key(t) for t in inputs]
    capture = dict.fromkeys(keys)
    for t in inputs:  # a non-leaf asked for keeps its .grad, as if it had called retain_grad()
        if t.grad_fn is not None:
            t.retain_grad()
    _run_general(tensors, seeds, bool(retain_graph), create_graph, capture,
                 _needed(tensors, set(keys)))
    for t, k in zip(inputs, keys):
        g = capture[k]
        if g is None or t.grad_fn is not None:  # (a non-leaf's came through retain_grad)
            continue
        hooks = hooks_of(t)
        if hooks is not None and hooks[0]:
            g = through_hooks(hooks[0], g, create_graph)
        _deliver(t, g, True, None, create_graph, None)
        if hooks is not None and hooks[1]:
            run_post_hooks(hooks[1], t)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned as a tuple of Tensors;
    no ``.grad`` is written (``torch.autograd.grad``). With ``create_graph=True`` the result is
    part of a graph, and can be differentiated again."""
    if is_grads_batched:
        raise NotImplementedError("grad: is_grads_batched=True is not supported; loop over the "
                                  "rows of grad_outputs")
    if allow_unused is None:
        allow_unused = materialize_grads
    if retain_graph is None:
        retain_graph = create_graph
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    if state.rebased:
        for t in outputs + inputs:
            fresh(t)
    grads = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    if len(grads) != len(outputs):
        raise RuntimeError(f"grad: got {len(grads)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: input {i} is a {type(t).__name__}, not a Tensor")
        if not t.requires_grad:
            raise RuntimeError(f"grad: One of the differentiated Tensors (input {i}) does not "
                               "require grad")
    seeds = [_seed(t, g, "grad", create_graph) for t, g in zip(outputs, grads)]
    keys = [_key(t) for t in inputs]
    capture = dict.fromkeys(keys)
    _run_general(outputs, seeds, bool(retain_graph), create_graph, capture,
                 _needed(outputs, set(keys)))
    result = []
    for i, (t, k) in enumerate(zip(inputs, keys)):
        g = capture[k]
        if g is not None and t.grad_fn is None and (hooks := hooks_of(t)) is not None and hooks[0]:
            g = through_hooks(hooks[0], g, create_graph)  # a leaf's own hooks, as PyTorch
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: One of the differentiated Tensors (input {i}, shape "
                                   f"{t.shape}) appears to not have been used in the graph. Set "
                                   "allow_unused=True if this is the desired behavior.")
            result.append(_make(np.zeros(t.shape, t.dtype), None) if materialize_grads else None)
        elif create_graph:
            result.append(g if isinstance(g, Tensor) else _make(np.asarray(g), None))
        else:
            g = g._data if isinstance(g, Tensor) else g
            # a copy only where the array may be shared (a view, a constant, another result's)
            if (g.base is not None or not g.flags.writeable or g.dtype != t.dtype
                    or any(g is r._data for r in result if r is not None)):
                g = np.array(g, dtype=t.dtype)
            result.append(_make(g, None))
    return tuple(result)


from .function import FREED, SavedFreedError  # noqa: E402
from .hooks import _LeafHooks, hooks_of, run_post_hooks, through_hooks  # noqa: E402
from .inplace import fresh, history_at  # noqa: E402
from .recorded import conform_graph, graph_backward  # noqa: E402
from . import versions  # noqa: E402
from .versions import check_saved  # noqa: E402
from ..tensor import Tensor, _make, _new  # noqa: E402
