"""A loop unrolled in Python, as the graph records it: the uses of a shared weight as time steps.

An RNN written as a loop, ``h = cell(x_t, h)`` or ``h = tanh(x_t @ W_xh + h @ W_hh + b)``,
records one node (or a few) per time step, and every step uses the same weights. Backward then
gives W_hh one share of its gradient per step, and ``W_hh.grad`` is their sum: backpropagation
through time. ``explain`` and ``draw_graph`` call such uses time steps, and name each step by
the tensor it makes (``h1``, ``h2``, ``h3``), when the uses

- are the same op taking the tensor at the same position, one node per use, and
- each lead first (in the order the forward pass made them) to a tensor the caller named, each
  use to another one, and each of those is computed from the one before: ``h2`` from ``h1``;

or, without such names, when each use's node is computed from the one before (``h2 =
cell(x2, h1)``: the cell's op for step 2 takes step 1's output). Uses that run side by side
(a weight shared by two branches of a network) stay branches.
"""

from __future__ import annotations

from . import notation as N


class Unrolled:
    """Finds time steps among the uses of a tensor in ``graph`` (a ``replay.Graph``).
    ``given``: id(tensor) -> the name the caller gave it."""

    def __init__(self, graph, given: dict):
        self.graph, self.given = graph, given
        self.pos = {node: k for k, node in enumerate(reversed(graph.order))}  # forward order
        self.children = {}
        for node in graph.order:
            for t in graph.inputs(node):
                if getattr(t, "grad_fn", None) is not None:
                    self.children.setdefault(graph.key(t), []).append(node)
        self._below, self._steps = {}, {}

    def below(self, node) -> set:
        """The nodes computed from ``node``'s output, and ``node`` itself."""
        if node not in self._below:
            seen, stack = {node}, [node]
            while stack:
                for c in self.children.get(stack.pop(), ()):
                    if c not in seen:
                        seen.add(c)
                        stack.append(c)
            self._below[node] = seen
        return self._below[node]

    def steps(self, uses) -> list | None:
        """For ``uses`` [(node, input index)], the uses of one tensor: the tensor each time step
        makes, in the order of the steps (the uses sorted to match, see ``order``), or None when
        the uses are not the steps of a loop."""
        uses = tuple(self.order(uses))
        if uses not in self._steps:
            self._steps[uses] = self._find(uses)
        return self._steps[uses]

    def step(self, uses, use):
        """(k, n, the tensor step k makes) for ``use``, one of ``uses``; None if not steps."""
        found = self.steps(uses)
        if found is None:
            return None
        k = self.order(uses).index(use)
        return k + 1, len(found), found[k]

    def _find(self, uses):
        nodes = [n for n, _ in uses]
        if (len(uses) < 2 or len(set(nodes)) < len(nodes)
                or len({(N.op_of(n), i) for n, i in uses}) > 1):
            return None
        made = self.graph.made
        anchors = [self._anchor(n) for n in nodes]
        if None not in anchors and len(set(anchors)) == len(anchors) and self._chain(anchors):
            return [made[a] for a in anchors]
        if self._chain(nodes):
            return [made[n] for n in nodes]
        return None

    def order(self, uses) -> list:
        """``uses`` in the order the forward pass ran them."""
        return sorted(uses, key=lambda u: (self.pos[u[0]], u[1]))

    def _anchor(self, node):
        """The first node computed from ``node`` (or ``node``) whose tensor the caller named."""
        named = [n for n in self.below(node) if id(self.graph.made[n]) in self.given]
        return min(named, key=self.pos.get) if named else None

    def _chain(self, nodes) -> bool:
        return all(b in self.below(a) for a, b in zip(nodes, nodes[1:]))


def describe(count: int, names: list) -> str:
    """'the sum over its 3 uses: time steps 1, 2, 3, making h1, h2, h3'."""
    steps = ", ".join(str(k) for k in range(1, count + 1))
    if count > 6:
        steps = f"1 to {count}"
        names = names[:2] + ["…", names[-1]]
    return f"the sum over its {count} uses: time steps {steps}, making {', '.join(names)}"


# a recurrence's op -> the names of its initial states, its inputs after the first
STATES = {"rnn": ("h0",), "gru": ("h0",), "lstm": ("h0", "c0")}


def name_states(nm, graph) -> None:
    """Name ``h0`` (and ``c0``) the initial state a recurrence starts from, a leaf (the zeros a
    layer or cell makes when none is given), unless it has a name: ``h0_2`` for the second
    recurrence's (a second layer's), and so on; a name already taken is left alone."""
    k = 0
    for node in reversed(graph.order):
        states = [(name, t) for name, t in zip(STATES.get(N.op_of(node), ()),
                                                graph.inputs(node)[1:])
                  if getattr(t, "grad_fn", 0) is None and id(t) not in nm.by_id]
        if states:
            k += 1
        for name, t in states:
            name = name if k == 1 else f"{name}_{k}"
            if name not in nm.used:
                nm.give(id(t), name)
