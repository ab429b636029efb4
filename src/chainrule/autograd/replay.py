"""Looking at a recorded graph from the side: walk it as its nodes saw it, and run a node again.

``check_graph`` and ``cr.viz`` use this; the engine does not. A node keeps its inputs (so their
forward values survive backward) but backward frees what the node saved, so to see a node's
backward again we re-run its forward on its inputs' values with a fresh context, then its backward.

In-place ops (``y.relu_()``, ``y += 1``, ``y[1:].add_(1)``) give one tensor several histories: a
node made before the change saw y's old history and y's old value (autograd/inplace.py). So
``Graph`` follows each edge to the node that made the input *as the consumer saw it*
(``history_at``), names each value by that node (``made``: one Tensor per node), and gives each
node's inputs as they were: the arrays where they still hold them, else made again from what
made them (a copy an in-place op kept, or the producing node run again), else not known, and says
so, rather than show the new values as if they were the old.

Everything here passes arrays in and gets arrays back. chainrule's own ops take arrays; a
``Function`` of yours (``type(node).tensors``) takes Tensors, so it gets its inputs and gradients
wrapped as Tensors, runs with grad mode off and has its results unwrapped, as in the engine.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from . import state, versions
from .engine import unbroadcast
from .function import FREED, _wrap, backward_arrays
from .grad_mode import no_grad
from .inplace import fresh, history_at


class ReplayError(RuntimeError):
    """A node cannot be run again (an option of its forward was not kept, its backward broke, or
    the value an input had when it ran is not known)."""


def source(t, node):
    """The node that made ``t``, an input of ``node``, as ``node`` saw it: ``t.grad_fn`` without
    the in-place nodes made after ``node``, or the history a later ``detach_()`` took away (None:
    a leaf, or a constant then)."""
    fn = t.grad_fn
    seq = getattr(node, "seq", None)
    if seq is not None and (fn is None or fn.seq > seq):
        fn = history_at(fn, seq, t)
    return fn


class Graph:
    """The graph that made ``output``, as each of its nodes saw it.

    ``order``: the nodes, in the order the backward pass visits them (latest created first).
    ``made``: node -> the Tensor it made, one per node (where the tensor has taken a newer history
    since, the stand-in its in-place op kept, ``old``, or a new one). ``inputs(node)``: the node's
    inputs as it saw them, each tensor replaced by ``made`` of the node that made it then.
    ``value(node)``, ``values(node)``: its output and its inputs' values as they were then.
    """

    def __init__(self, output):
        if state.rebased:  # a stale view as the output: its fresh history, as backward sees it
            fresh(output)
        self.output = output
        self.made = {}
        self.unknown = {}   # node -> why its output, changed in place since, cannot be made again
        self._sources = {}  # node -> the node that made each input then (None: not a tensor's)
        self._holders = {}  # node -> {id: tensor} the tensors seen holding its output
        self._seen = {}     # node -> its inputs as it saw them
        self._values = {}   # node -> its output value as made (None: not known)
        self._leaves = {}   # id(tensor) -> what stands for it where it was a constant
        self.order = self._walk(output.grad_fn) if output.grad_fn is not None else []

    def _walk(self, root) -> list:
        sources, holders = self._sources, self._holders
        holders[root] = {id(self.output): self.output}
        stack = [root]
        while stack:
            node = stack.pop()
            found = sources[node] = []
            for t in node.inputs:
                fn = source(t, node) if hasattr(t, "grad_fn") else None
                found.append(fn)
                if fn is None:
                    continue
                if fn not in holders:
                    holders[fn] = {}
                    stack.append(fn)
                holders[fn][id(t)] = t
        for node, held in holders.items():  # one tensor per node: one whose grad_fn it still is
            same = [t for t in held.values() if t.grad_fn is node]
            self.made[node] = same[0] if same else _make(next(iter(held.values()))._data, node)
        if all(hasattr(n, "seq") for n in sources):
            return sorted(sources, key=lambda n: -n.seq)
        consumers = {}  # Kahn's order, for nodes that carry no creation order
        for node in sources:
            for fn in sources[node]:
                if fn is not None:
                    consumers[fn] = consumers.get(fn, 0) + 1
        order, ready = [], [root]
        while ready:
            node = ready.pop()
            order.append(node)
            for fn in sources[node]:
                if fn is not None:
                    consumers[fn] -= 1
                    if consumers[fn] == 0:
                        ready.append(fn)
        return order

    def key(self, t):
        """How a tensor of the graph is looked up: by its node, or by id for a leaf."""
        return t.grad_fn if t.grad_fn is not None else id(t)

    def inputs(self, node) -> tuple:
        """``node.inputs`` as the node saw them: each tensor replaced by ``made`` of the node that
        made it then (a leaf by itself)."""
        seen = self._seen.get(node)
        if seen is None:
            seen = self._seen[node] = tuple(
                self._as_seen(t, fn) if hasattr(t, "grad_fn") else t
                for t, fn in zip(node.inputs, self._sources[node]))
        return seen

    def _as_seen(self, t, fn):
        if fn is not None:
            return self.made[fn]
        if t.grad_fn is None:
            return t
        # a constant then, which an in-place op joined to the graph later: the tensor that op
        # kept of its old value (its input 0), or a stand-in
        leaf = self._leaves.get(id(t))
        if leaf is None:
            first = t.grad_fn
            while first.replaced is not None:
                first = first.replaced
            old = first.inputs[0] if first.inputs else None
            leaf = old if getattr(old, "grad_fn", 0) is None else _make(t._data, None)
            self._leaves[id(t)] = leaf
        return leaf

    # -- values ----------------------------------------------------------------------------------

    def overwritten(self, node, i) -> bool:
        """Does input ``i`` of ``node`` (a tensor) hold other values now than when the node ran?"""
        data = node.inputs[i]._data
        seq = getattr(node, "seq", None)
        if seq is None:
            return False
        return versions._changed_since(data, seq) is not None or self._writes(node, i)

    def _writes(self, node, i) -> bool:
        """Is ``node`` an in-place op that wrote over its input ``i``? (It changes the memory after
        the node is made, then numbers the node after the change: the version stamps cannot
        tell.)"""
        return (getattr(node, "inplace", False) and not getattr(node, "view", False)
                and versions._owner(node.inputs[i]._data) is versions._owner(self.made[node]._data))

    def kept(self, node):
        """The array that still holds ``node``'s output as it was made, or None."""
        seq = getattr(node, "seq", None)
        for t in self._holders[node].values():
            if seq is None or versions._changed_since(t._data, seq) is None:
                return t._data
        return None

    def value(self, node):
        """``node``'s output as it was made: the array that still holds it, or the node run again
        on its inputs' values then; None if not known (``why_value`` says why)."""
        values, stack = self._values, [node]
        while stack:  # (an explicit stack: a long chain of in-place ops must work)
            n = stack[-1]
            if n in values:
                stack.pop()
                continue
            v = self.kept(n)
            if v is None:
                below = [fn for i, fn in enumerate(self._sources[n])
                         if fn is not None and fn not in values and self.overwritten(n, i)]
                if below:
                    stack.extend(below)
                    continue
                v = self._again(n)
            values[n] = v
            stack.pop()
        return values[node]

    def _again(self, node):
        try:  # twice: a random op gives another value each time
            first = replay(node, self.values(node), self.made[node])[1]
            second = replay(node, self.values(node), self.made[node])[1]
        except ReplayError as err:
            self.unknown[node] = f"it cannot be run again: {err}"
            return None
        if not _same(second, first):
            self.unknown[node] = "running it again gives another value each time (a random op)"
            return None
        return first

    def why_value(self, node) -> str:
        """Why ``node``'s output as it was made is not known."""
        return (f"{node.name()}: its output was changed in place afterwards and not kept, and "
                f"{self.unknown.get(node, 'it cannot be made again')}")

    def input_value(self, node, i):
        """Input ``i`` of ``node`` as the node saw it: an array (not a copy), or the input itself
        if it is not a tensor; None if that value is not known."""
        t = node.inputs[i]
        if not hasattr(t, "grad_fn"):
            return t
        if not self.overwritten(node, i):
            return t._data
        fn = self._sources[node][i]
        if fn is not None:
            return self.value(fn)
        old = self._as_seen(t, None)  # a constant's old value, if an in-place op kept a copy
        if (old is not t and versions._owner(old._data) is not versions._owner(t._data)
                and versions._changed_since(old._data, node.seq) is None):
            return old._data
        return None

    def why(self, node, i) -> str:
        """Why the value input ``i`` of ``node`` had is not known."""
        t, fn = node.inputs[i], self._sources[node][i]
        if fn is None and self._writes(node, i):
            return (f"{node.name()}: input {i} is the value this in-place op wrote over, and it "
                    "was not kept")
        if fn is None and t.grad_fn is not None:  # a constant then, joined to the graph since
            first = t.grad_fn
            while first.replaced is not None:
                first = first.replaced
            return (f"{node.name()}: input {i} was a constant that {first.name()} changed in place "
                    "afterwards, and its value then was not kept")
        if fn is None:
            return (f"{node.name()}: input {i} was changed in place after the op used it (a change "
                    "under no_grad, or an optimizer step), and its value then was not kept")
        return (f"{node.name()}: input {i}, made by {fn.name()}, was changed in place "
                f"afterwards and not kept, and {self.unknown.get(fn, 'cannot be made again')}")

    def values(self, node, dtype=None) -> list:
        """Copies of the node's positional inputs as its forward saw them (floats cast to
        ``dtype`` if given): copies, because some forwards write into an input (batch norm's
        running mean). Raises ``ReplayError`` if one of them is not known."""
        values = []
        for i, a in enumerate(node.inputs):
            v = self.input_value(node, i)
            if v is None and hasattr(a, "grad_fn"):
                raise ReplayError(self.why(node, i))
            if isinstance(v, (np.ndarray, np.floating)):
                v = v.astype(dtype) if dtype is not None and v.dtype.kind == "f" else v.copy()
            values.append(v)
        return values

    def wanted(self, node) -> list:
        """For each input: did the node want its gradient (a tensor that required grad then)?"""
        needs = getattr(node, "needs_input_grad", None) or (True,) * len(node.inputs)
        return [wants_grad(t) and bool(n) for t, n in zip(self.inputs(node), needs)]


def walk(output) -> list:
    """The nodes that produced ``output``, in the order the backward pass visits them (output's
    node first): latest created first, as the engine (Kahn's order if nodes carry no ``seq``).
    Each edge is followed to the node that made the input as its consumer saw it."""
    return Graph(output).order


def wants_grad(t) -> bool:
    return getattr(t, "requires_grad", False) and hasattr(t, "grad_fn")


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


def replay(node, values, out=None, dtype=None, expected=None):
    """Run ``node``'s forward again on ``values`` (its positional inputs' arrays, as
    ``Graph.values`` gives them) with a fresh context; returns ``(ctx, output array)``. Nothing is
    recorded. ``out``: the node's output tensor (a cast's dtype is read from it); ``expected``: the
    output the graph recorded, which the new one must match. ``dtype``: a float dtype that replaces
    any float dtype among the options (a cast to float32 checked in float64)."""
    cls = type(node)
    ctx = cls.__new__(cls)
    ctx.inputs = node.inputs
    ctx.needs_input_grad = node.needs_input_grad
    ctx.saved = ()
    kwargs = options(node, out)
    if dtype is not None:
        kwargs = {k: dtype if isinstance(v, np.dtype) and v.kind == "f" else v
                  for k, v in kwargs.items()}
    try:
        y = np.asarray(_forward(cls, ctx, node.inputs, values, kwargs))
    except Exception as err:
        raise ReplayError(f"{cls.op_name()}: running its forward again failed: {err}") from err
    if expected is not None and not _same(y, expected):
        raise ReplayError(f"{cls.op_name()}: running its forward again does not give the value "
                          "the graph recorded (an option of the op not kept on the node, or a "
                          "random forward)")
    return ctx, y


def rerun(graph, node, dtype=None):
    """``replay`` of ``node`` on its inputs as it saw them, checked against its output as it was
    made; returns ``(values, ctx, output array)``. Raises ``ReplayError`` where either is not
    known (changed in place since, and not kept)."""
    values = graph.values(node, dtype)
    expected = graph.value(node)
    if expected is None:
        raise ReplayError(graph.why_value(node))
    ctx, y = replay(node, values, graph.made[node], dtype, expected)
    return values, ctx, y


def _forward(cls, ctx, inputs, values, kwargs):
    """``cls.forward`` on ``values``; a Function of yours gets Tensors where the node had them."""
    if not cls.tensors:
        return cls.forward(ctx, *values, **kwargs)
    args = [_wrap(np.asarray(v)) if hasattr(t, "grad_fn") else v for t, v in zip(inputs, values)]
    with no_grad():
        y = cls.forward(ctx, *args, **kwargs)
    return y._data if hasattr(y, "grad_fn") else y


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


def backward(node, ctx, grad_output, wanted=None) -> list:
    """Call the node's backward on ``grad_output``; for each input, ``(raw, reduced)``: the
    gradient the op returned and that gradient summed to the input's shape (``None`` where no
    gradient is wanted, ``wanted[i]`` false, or none returned)."""
    grads = gradients(node, ctx, grad_output)
    if len(grads) != len(node.inputs):
        raise ReplayError(f"{node.name()}: backward returned {len(grads)} gradients but the op has "
                          f"{len(node.inputs)} inputs")
    if wanted is None:
        wanted = [wants_grad(t) for t in node.inputs]
    result = []
    for t, g, want in zip(node.inputs, grads, wanted):
        if g is None or not want:
            result.append(None)
            continue
        g = np.asarray(g)
        try:
            result.append((g, unbroadcast(g, t._data.shape, node.name())))
        except RuntimeError as err:
            raise ReplayError(str(err)) from None
    return result


@dataclass
class Trace:
    """One backward pass, kept whole: every node's output gradient and every edge's share."""

    graph: Graph                                  # the graph as its nodes saw it
    grad: dict = field(default_factory=dict)      # node or id(leaf) -> gradient of its output
    edges: dict = field(default_factory=dict)     # (node, input index) -> (raw, reduced)
    branches: dict = field(default_factory=dict)  # node or id(leaf) -> [(consumer, input index)]
    contexts: dict = field(default_factory=dict)  # node -> the fresh ctx its backward ran with
    skipped: dict = field(default_factory=dict)   # node -> why it could not be run again
    blocked: set = field(default_factory=set)     # keys whose gradient is unknown because of it
    stale: dict = field(default_factory=dict)     # node -> why backward() would refuse to run it

    @property
    def order(self) -> list:
        """The nodes, in the order backward visits them."""
        return self.graph.order

    @property
    def made(self) -> dict:
        """node -> the Tensor it made."""
        return self.graph.made

    def inputs(self, node) -> tuple:
        return self.graph.inputs(node)

    def key(self, t):
        """How a tensor is looked up here: by its node, or by id for a leaf."""
        return self.graph.key(t)


def trace(output, seed=None, graph=None) -> Trace:
    """Run the backward pass from ``output`` (seeded with ``seed``, default ones) node by node,
    keeping what the engine throws away. Each node runs on its inputs as it saw them; one that
    cannot be run again leaves the gradients below it unknown (absent from ``grad``)."""
    tr = Trace(graph if graph is not None else Graph(output))
    order = tr.order
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
        inputs, wanted = tr.inputs(node), tr.graph.wanted(node)
        try:
            _, ctx, _ = rerun(tr.graph, node)
            grads = backward(node, ctx, g, wanted)
        except ReplayError as err:
            tr.skipped[node] = str(err)
            _block(node, tr, blocked)
            continue
        tr.contexts[node] = ctx
        saved = getattr(node, "saved", ())
        if saved is not FREED and saved:  # would the engine's version check refuse it?
            try:
                versions.check_saved(node, saved, tr.made[node])
            except RuntimeError as err:
                tr.stale[node] = str(err)
        for i, (t, pair) in enumerate(zip(inputs, grads)):
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
    for t, want in zip(tr.inputs(node), tr.graph.wanted(node)):
        if want:
            blocked.add(tr.key(t))


from ..tensor import _make  # noqa: E402
