"""The graph of a gradient: what ``create_graph=True`` recorded, named for what it computes.

``g, = cr.autograd.grad(L, w, create_graph=True)`` gives a gradient whose graph holds the
operations of L's backward pass (its backward formulas, written in ordinary ops). ``explain(g)``
and ``draw_graph(g)`` show that graph like any other: the chain rule of the chain rule. To read it,
one wants to know that g is a first derivative and its gradients are second derivatives, but a
graph does not say that a backward pass recorded it. These do:

- the seed: the 1 that backward starts from (``∂L/∂L``), a constant of g's graph;
- a leaf whose ``.grad`` is g (``L.backward(create_graph=True)``);
- the function L, when the caller names it (``names={"L": loss}``) and g's value is the gradient
  of L with respect to one of L's tensors (found by running L's backward pass again). Then L's own
  forward pass is told apart from the operations its backward pass recorded, and the tensors of
  that backward pass that hold a gradient of L are named ``∂L/∂h``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..autograd import replay as R
from ..dtypes import ONE
from . import notation as N

ORDINALS = ("zeroth", "first", "second", "third", "fourth", "fifth")


def ordinal(k: int) -> str:
    return ORDINALS[k] if k < len(ORDINALS) else f"{k}th"


@dataclass
class Derivative:
    """What is known about an output that a backward pass computed."""

    order: int = 1               # 1: the output is (computed from) a first derivative
    seeds: set = field(default_factory=set)    # id() of the constants that are the seed ∂L/∂L
    function: object = None      # L, when named and found: the output is a gradient of L
    function_name: str = ""
    wrt: str = ""                # the output is ∂L/∂(wrt), when that is known
    direct: bool = True          # False: the output is computed from a gradient of L (g[0])
    forward: set = field(default_factory=set)  # nodes of L's own forward pass
    grads: dict = field(default_factory=dict)  # id(tensor) -> "∂L/∂h": gradients of L it holds
    trace: object = field(default=None, repr=False)  # L's backward pass, run again
    candidates: list = field(default_factory=list, repr=False)  # [(L's tensor, its gradient)]

    @property
    def L(self) -> str:
        """The function's name, or "y" for an unnamed one."""
        return self.function_name or "y"

    def equation(self, f: str) -> str:
        """'g = ∂L/∂w', 'g = w.grad' or 'g': what the output is, as far as it is known."""
        if not (self.direct and self.wrt):
            return f
        if self.function is None:  # known as a leaf's .grad
            return f"{f} = {self.wrt}.grad"
        return f"{f} = ∂{self.L}/∂{self.wrt}"

    def what(self, f: str) -> str:
        """'g = ∂L/∂w is a first derivative'."""
        if not self.direct:
            return f"{f} is computed from a {ordinal(self.order)} derivative of {self.L}"
        return f"{self.equation(f)} is a {ordinal(self.order)} derivative"

    def seed_note(self) -> str:
        return f"1 = ∂{self.L}/∂{self.L}: the seed the backward pass started from"


def derivative(graph, output, pairs) -> Derivative | None:
    """``Derivative`` for the graph of ``output`` (a ``replay.Graph``), or None if nothing shows
    that a backward pass recorded it. ``pairs``: the caller's names, [(name, tensor)]."""
    if output.grad_fn is None:
        return None
    nodes = graph.order
    seeds = {id(t) for n in nodes for t in graph.inputs(n) if _is_seed(t)}
    named = [(n, t) for n, t in pairs if getattr(t, "grad_fn", None) is not None]
    for name, f in sorted(named, key=lambda p: -p[1].grad_fn.seq):  # the function, if named:
        d = _gradient_of(f, name, output, graph, pairs, bool(seeds))  # the latest that fits
        if d is not None:
            d.seeds = seeds
            return d
    leaves = {id(t): t for n in nodes for t in graph.inputs(n)
              if R.wants_grad(t) and t.grad_fn is None}
    wrt = [t for t in leaves.values() if t.grad is output]  # after L.backward(create_graph=True)
    if not seeds and not wrt:
        return None
    named = {id(t): n for n, t in pairs}
    d = Derivative(order=max(1, len(seeds)), seeds=seeds)
    if wrt:
        d.wrt = named.get(id(wrt[0]), "")
    return d


def _is_seed(t) -> bool:
    """Is ``t`` the engine's seed (a constant tensor whose array is its shared 1, or a view of
    it)? Nothing else holds that array in a Tensor."""
    if not hasattr(t, "grad_fn") or t.grad_fn is not None or t.requires_grad:
        return False
    a = t._data
    one = ONE.get(a.dtype)
    while isinstance(a, np.ndarray) and one is not None:
        if a is one:
            return True
        a = a.base
    return False


def _gradient_of(f, name, output, graph, pairs, seeded) -> Derivative | None:
    """A Derivative if ``output`` is (computed from) a gradient of the named tensor ``f``: f is a
    scalar made before output, outside output's graph unless a seed shows a backward pass, and
    output's value, or that of a tensor output's graph made after f, is f's gradient at one of
    f's leaves (or, for output itself, at one of its tensors)."""
    fn = getattr(f, "grad_fn", None)
    if (fn is None or f is output or f.numel() != 1 or fn.seq >= output.grad_fn.seq
            or not seeded and fn in graph.made):
        return None
    tr = R.trace(f)
    if tr.skipped or output.grad_fn in tr.made:
        return None
    named = {id(t): n for n, t in pairs}
    leaves = sorted(_leaves(tr), key=lambda t: id(t) not in named)  # named ones first
    made = [tr.made[n] for n in tr.order if n in tr.made and tr.made[n] is not f]
    inner = [(t, tr.grad[t.grad_fn]) for t in made if t.grad_fn in tr.grad]
    at_leaves = [(t, tr.grad[id(t)]) for t in leaves if id(t) in tr.grad]
    mine = set(tr.order)
    d = Derivative(function=f, function_name=name, forward=mine & set(graph.order), trace=tr,
                   candidates=inner + at_leaves)  # the latest first, as backward finds them
    found = next((t for t, g in at_leaves + inner if _equal(g, output._data)), None)
    if found is not None:
        d.wrt = named.get(id(found), "")
    elif not any(_equal(g, graph.value(t.grad_fn)) for node in graph.order if node.seq > fn.seq
                 for t in graph.inputs(node) if getattr(t, "grad_fn", None) is not None
                 for _, g in at_leaves):
        return None
    else:
        d.direct = False
    below = derivative(tr.graph, f, [p for p in pairs if p[1] is not f])  # f a gradient too?
    d.order = 1 + (below.order if below is not None else 0)
    return d


def _leaves(tr) -> list:
    seen, leaves = set(), []
    for node in reversed(tr.order):
        for t in tr.inputs(node):
            if R.wants_grad(t) and t.grad_fn is None and id(t) not in seen:
                seen.add(id(t))
                leaves.append(t)
    return leaves


def _equal(a, b) -> bool:
    if a is None or b is None:  # a value not known (changed in place since)
        return False
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != "f" or not np.any(a):
        return False
    rtol = 1e-9 if a.dtype.itemsize >= 8 and b.dtype.itemsize >= 8 else 1e-4
    scale = float(np.abs(a).max())
    return bool(np.allclose(a, b, rtol=rtol, atol=rtol * scale))


def name_tensors(nm, graph, d: Derivative | None, numbers=(), keep=None) -> None:
    """Name every tensor of the graph in ``nm`` (a ``notation.Names``): letters in the order the
    forward pass made them; in a gradient's graph, L's forward pass first, then ``∂L/∂h`` for
    the tensors that hold a gradient of L. ``graph``: a ``replay.Graph``; ``numbers``: ids of
    tensors written as numbers (no name); ``keep``: the nodes shown (default all)."""
    forward = list(reversed(graph.order))

    def name_all(shown):
        for node in shown:
            if keep is None or node in keep:
                for i, t in enumerate(graph.inputs(node)):
                    if hasattr(t, "grad_fn") and id(t) not in numbers and not N.hidden(node, i):
                        nm(t)
                nm(graph.made[node])

    if d is not None and d.trace is not None:
        name_all([node for node in forward if node in d.forward])
        label_gradients(d, graph, lambda t: nm.by_id.get(id(t)))
        for tid, label in d.grads.items():
            nm.give(tid, label)
    name_all(forward)


def label_gradients(d: Derivative, graph, name) -> None:
    """Name ``∂L/∂h`` the tensors of the recorded backward pass that hold a gradient of L: the
    constants it made from the seed, and what it computed from them, where the value is the
    gradient (at a tensor of L) that running L's backward pass again gives. ``graph``: a
    ``replay.Graph``; ``name(t)``: the name of a tensor the explanation shows, else None."""
    if d.trace is None:
        return
    carried = set(d.seeds)  # ids of the tensors that carry L's gradient
    for node in reversed(graph.order):  # forward order
        if node in d.forward:
            continue
        inputs = graph.inputs(node)
        for i, t in enumerate(inputs):
            if (hasattr(t, "grad_fn") and t.grad_fn is None and not t.requires_grad
                    and id(t) not in d.seeds):  # the seed is written 1
                _match(d, t, graph.input_value(node, i), name, carried)
        out = graph.made.get(node)
        if out is not None and any(id(t) in carried for t in inputs):
            carried.add(id(out))
            _match(d, out, graph.value(node), name, carried)


def _match(d, t, value, name, carried):
    if id(t) in d.grads:
        return
    for of, g in d.candidates:
        if _equal(g, value):
            x = _name_of(d, of, name)
            label = x and f"∂{d.L}/∂{x if _plain(x) else '(' + x + ')'}"  # ∂L/∂fc1.weight
            if label and label not in d.grads.values():
                d.grads[id(t)] = label
                carried.add(id(t))
            return


def _plain(name: str) -> bool:
    return all(c.isascii() and c.isalnum() or c in "._" for c in name) and not name[:1].isdigit()


def _name_of(d, t, name) -> str | None:
    """The name of ``t``, a tensor of L's forward pass: its name where the explanation shows it,
    or its formula in the names of its node's inputs (None if they are not shown)."""
    if name(t):
        return name(t)
    if t.grad_fn is None:
        return None
    names = []
    for a in d.trace.inputs(t.grad_fn):
        if hasattr(a, "grad_fn"):
            names.append(name(a))
            if names[-1] is None:
                return None
        else:
            names.append(N.number(a) if isinstance(a, (int, float)) else None)
    return N.formula(t.grad_fn, names)
