"""``draw_graph``: the computational graph as a Graphviz drawing, values in green, gradients in red.

Building the drawing needs nothing but NumPy: it is DOT text. Rendering it to SVG or PNG needs the
Graphviz program ``dot`` (``apt-get install graphviz``, ``brew install graphviz``); without it,
``render`` still writes the DOT text and says how to install Graphviz.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np

from ..autograd import replay as R
from ..autograd.function import FREED
from . import notation as N
from . import recorded
from .recorded import ordinal
from .unrolled import Unrolled, name_states

VALUE_COLOR = "#2e7d32"  # forward values: green, as the classic diagrams
GRAD_COLOR = "#c62828"   # gradients: red
NEGATIVE_COLOR = "#1565c0"  # negative entries of a heat-map
INSTALL_HINT = ("Graphviz's `dot` program was not found. Install Graphviz: `apt-get install "
                "graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), `conda install "
                "graphviz` or https://graphviz.org/download/")


UNKNOWN = object()  # a value an in-place op changed afterwards, and that is not known


class GraphvizNotFound(RuntimeError):
    """The Graphviz program ``dot`` is not installed."""


class Graph:
    """A drawing in Graphviz's DOT language: ``render(path)`` to SVG/PNG/PDF/DOT, ``save`` the DOT
    text, ``source`` to read it; shows itself inline in Jupyter."""

    def __init__(self, source: str):
        self.source = source

    def pipe(self, format: str = "svg") -> bytes:
        """The drawing rendered by ``dot`` in ``format`` ("svg", "png", "pdf", ...)."""
        exe = shutil.which("dot")
        if exe is None:
            raise GraphvizNotFound(INSTALL_HINT)
        done = subprocess.run([exe, f"-T{format}"], input=self.source.encode(), capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"draw_graph: dot failed: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def render(self, path, format: str | None = None) -> str:
        """Write the drawing to ``path``, in the format its suffix names (default SVG). Without
        Graphviz, write the DOT text next to it (``.dot``), warn how to install Graphviz, and
        return that path."""
        path = Path(path)
        fmt = (format or path.suffix.lstrip(".") or "svg").lower()
        if fmt in ("dot", "gv"):
            return self.save(path)
        try:
            data = self.pipe(fmt)
        except GraphvizNotFound:
            dot_path = path.with_suffix(".dot")
            self.save(dot_path)
            warnings.warn(f"{INSTALL_HINT}. Wrote the DOT text to {dot_path} instead; once "
                          f"Graphviz is installed: dot -T{fmt} {dot_path} -o {path}", stacklevel=2)
            return str(dot_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return str(path)

    def save(self, path) -> str:
        """Write the DOT text to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.source, encoding="utf-8")
        return str(path)

    def to_graphviz(self):
        """The drawing as a ``graphviz.Source`` (needs the ``graphviz`` Python package)."""
        import graphviz
        return graphviz.Source(self.source)

    def _repr_svg_(self):
        try:
            return self.pipe("svg").decode("utf-8")
        except GraphvizNotFound:
            return None

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        n = self.source.count("label=<")
        hint = "" if shutil.which("dot") else f"; {INSTALL_HINT}"
        return f"<Graph: {n} nodes, DOT in .source{hint}>"


def draw_graph(output, params=None, show_values: bool = True, show_grads: bool = True,
               collapse_modules: bool = False, rankdir: str | None = None,
               precision: int = 4, names=None, expand_modules: bool = False) -> Graph:
    """Draw everything that produced ``output``: one node per op and per leaf, each with its
    shape, its forward value (green) and, once ``backward`` has run, its gradient (red).

    ``names`` (or ``params``, torchviz's word): names for tensors, e.g.
    ``model.named_parameters()`` or ``{"w0": w0}``. The other tensors get letters, the output
    ``f``, as ``explain`` names them; an op is labelled with its formula in its operands' names
    (``b = q²``, ``d = 0.5 - c``).
    ``collapse_modules``: draw the ops that use a module's parameters (``fc1.weight``,
    ``fc1.bias``) as one box named ``fc1``. Gradients of the ops are those of
    ``output.backward()`` (seeded with ones); a leaf shows its ``.grad``. Draw before an
    optimizer step: the graph refers to the live parameters, which the step changes. An in-place
    op (``y.relu_()``) is a node of its own, marked "in place"; ops that used y before it keep
    their edge from y's old node and show y's old value (or "changed in place since" where that
    value is not known).

    A gradient's graph (``create_graph=True``) gets a legend: its output ``g`` is a first
    derivative, the seed its backward pass started from is a box of its own, and the gradients
    (after ``g.backward()``) are second derivatives, ∂g/∂·, on every node and leaf. Name the
    function (``params={..., "L": loss}``) to shade L's own forward pass grey and see which
    nodes hold a gradient of L (``∂L/∂h``).

    ``expand_modules``: draw each fused op (linear, conv2d, batch_norm, cross_entropy, ...) as
    the primitive ops it stands for, as ``explain(..., expand_modules=True)`` tells them.
    """
    if expand_modules and getattr(output, "grad_fn", None) is not None:
        from .expand import counterpart, expand
        output, new, _ = expand(output)
        params = [(n, counterpart(new, t)) for n, t in N.named(params)[0]]
        names = [(n, counterpart(new, t)) for n, t in N.named(names)[0]]
    graph = R.Graph(output)
    order = graph.order
    forward = list(reversed(order))
    made = graph.made
    pairs = N.named(params)[0] + N.named(names)[0]
    given = {id(t): n for n, t in pairs}
    by_name = dict(pairs)
    leaves, consumers, first_use = _leaves_and_consumers(forward, graph)
    if output.grad_fn is None:
        leaves = [output]
    deriv = recorded.derivative(graph, output, pairs)
    # every tensor named, as explain names them
    nm = N.Names(pairs, output, ("g", "f", "y") if deriv and deriv.direct else ("f", "y", "L"))
    name_states(nm, graph)
    recorded.name_tensors(nm, graph, deriv, deriv.seeds if deriv else ())
    names = {**nm.by_id, **given}
    grads, trace = {}, None
    # a gradient's leaves hold g's gradient, or g itself (L.backward(create_graph=True)): drawn
    # from the trace of g's backward pass, as the ops are
    done = [t for t in leaves if t.grad is not None
            and (deriv is None or not (t.grad is output or t.grad.requires_grad))]
    if show_grads and done:
        trace = R.trace(output, graph=graph)
        grads = trace.grad
        if deriv is None and not _backwarded(order, grads, done):
            grads, trace = {}, None  # the leaves' .grad are another graph's: not backward yet
    if collapse_modules and deriv is not None and deriv.forward:  # modules: L's forward pass
        consumers = {k: [n for n in v if n in deriv.forward] for k, v in consumers.items()}
    groups = _modules(forward, given, consumers, graph) if collapse_modules else {}
    unrolled = Unrolled(graph, given)
    uses = _uses(forward, graph)
    boxes = _calls(groups, given, uses, unrolled)  # a module called at each step: a box a call
    member = {node: key for key, (_, _, nodes) in boxes.items() for node in nodes}
    hidden = {tid for tid, n in given.items() if n.rpartition(".")[0] in groups}

    def show(key, t):
        value = None
        if show_values:  # an op's output as it was made, which an in-place op may have changed
            if t.grad_fn is not None:
                value = graph.value(key)
            else:  # a leaf: its value when first used (None if changed in place since, not kept)
                value = graph.input_value(*first_use[key]) if key in first_use else t._data
            value = UNKNOWN if value is None else value
        return value, (grads.get(key) if show_grads else None)

    # one log colour scale per drawing for the heat maps: one for values, one for gradients
    everything = [show(id(t), t) for t in leaves] + [show(n, made[n]) for n in forward]
    scales = [max((float(np.abs(np.asarray(s[k], np.float64)).max()) for s in everything
                   if s[k] is not None and s[k] is not UNKNOWN
                   and not _as_text(np.asarray(s[k]))),
                  default=0.0) for k in (0, 1)]

    def label(title, sub, value, grad):
        return _label(title, sub, value, grad, precision, scales)

    ids, lines = {}, []
    seeds = deriv.seeds if deriv is not None else ()
    for k, t in enumerate(leaves, 1):
        if id(t) in hidden:
            continue
        ids[id(t)] = f"in{k}"
        title = names.get(id(t)) or ("leaf" if t.requires_grad else "input")
        sub = _shape_of(t)
        steps = unrolled.steps(uses.get(id(t), []))
        if steps:  # a loop's weight: one share of the gradient per step, on the arrows
            sub = " ".join(filter(None, [sub, f"used at {len(steps)} time steps"
                                         + (", ∇: their sum" if grads else "")]))
        if id(t) in seeds:  # the 1 that the first backward pass started from
            title, sub = "seed", f"∂{deriv.L}/∂{deriv.L}"
        style = "rounded,filled", "#e3f2fd" if t.requires_grad else "#f5f5f5"
        lines.append(_node(ids[id(t)], label(title, sub, *show(id(t), t)),
                           "box", *style))
    for k, node in enumerate(forward, 1):
        if node in member:
            continue
        t = made[node]
        ids[node] = f"op{k}"
        constants = [None if hasattr(a, "grad_fn") else a for a in node.inputs]
        name = names.get(id(t))
        if node is order[0] and deriv is not None:
            name = deriv.equation(name)
        inplace = getattr(node, "inplace", False) and not getattr(node, "view", False)
        title = None if deriv else _title(node, name, graph.inputs(node), nm, seeds, precision)
        if title is None:  # a long formula: the gate, named below
            title = N.gate(node, constants, precision)
            sub = " ".join(filter(None, [name, _shape_of(t), "in place" if inplace else None]))
        else:
            sub = " ".join(filter(None, [_shape_of(t), "in place" if inplace else None]))
        fill = "#eeeeee" if deriv is not None and node in deriv.forward else "#ffffff"
        lines.append(_node(ids[node], label(title, sub, *show(node, t)),
                           "ellipse" if t.numel() <= 8 else "box", "rounded,filled", fill,
                           root=node is order[0]))
    for k, (key, (prefix, call, nodes)) in enumerate(boxes.items(), 1):
        mine = [n for n in forward if n in nodes]
        # its outputs: what the ops after it use (the output's node, if it is in the box)
        outs = [n for n in mine if n is order[0]
                or any(c not in nodes for c in consumers.get(n, ()))] or mine[-1:]
        ids[key] = f"mod{k}"
        inside = ", ".join(f"{n.rpartition('.')[2]} {N.shape(by_name[n].shape)}"
                           for n in given.values() if n.rpartition(".")[0] == prefix)
        out = ", ".join(f"{names[id(made[n])]} {_shape_of(made[n])}".strip() for n in outs
                        if names.get(id(made[n])))
        inside = f"{inside} → {out}" if out and deriv is None else inside
        title = f"{prefix} ({call})" if call else prefix
        lines.append(_node(ids[key], label(title, inside, *show(outs[0], made[outs[0]])),
                           "box", "rounded,filled", "#fff8e1", root=order[0] in nodes))

    def rep(t, node):
        if t.grad_fn is None:  # a parameter drawn inside its module's box: none
            if id(t) not in hidden:
                return ids.get(id(t))
            mine = [b for b, (prefix, _, _) in boxes.items()
                    if prefix == given[id(t)].rpartition(".")[0]]
            return None if member.get(node) in mine else ids[mine[0]]
        return ids[member[t.grad_fn]] if t.grad_fn in member else ids[t.grad_fn]

    edges = {}  # (from, to, k) -> its label or None: ordered, without repeats
    for node in forward:
        dst = ids[member[node]] if node in member else ids[node]
        count = {}
        for i, t in enumerate(graph.inputs(node)):
            if hasattr(t, "grad_fn"):
                src = rep(t, node)
                if src is not None and src != dst:
                    k = count[id(t)] = count.get(id(t), -1) + 1  # y · y: two edges from y
                    key = src, dst, 0 if node in member else k
                    edges[key] = edges.get(key) or _step_label(
                        unrolled, uses.get(graph.key(t), []), (node, i), trace, precision)
    lines += [f"  {a} -> {b}" + (f" [label=<{text}>]" if text else "") + ";"
              for (a, b, _), text in edges.items()]
    # left to right like a circuit for scalars and short chains; top-down for a network
    scalars = all(t.numel() <= 8 for t in list(made.values()) + leaves)
    short = len(ids) <= 6
    rankdir = rankdir or ("LR" if short or scalars and deriv is None else "TB")
    head = ["digraph chainrule {", f"  rankdir={rankdir};",
            '  node [fontname="Helvetica", fontsize=11, margin="0.08,0.04"];',
            '  edge [color="#757575", arrowsize=0.7];']
    if deriv is not None:
        head.append(_caption(deriv, names.get(id(output)), bool(grads)))
    elif any(scales) or grads:
        head.append(_legend(names.get(id(output)), bool(grads), scales))
    return Graph("\n".join(head + lines + ["}"]) + "\n")


def _title(node, name, inputs, nm, seeds, precision) -> str | None:
    """An op's label as in maths, ``b = q²``; None when the formula is too long to read in a
    box, or the name is itself an equation."""
    if "=" in name:
        return None
    formula = N.formula(node, N.operands(inputs, nm, precision, seeds, node))
    return f"{name} = {formula}" if len(formula) <= 28 else None


def _backwarded(order, grads, leaves) -> bool:
    """Has backward run through this graph? Yes if it freed the graph's saved tensors, or, for
    ``retain_graph=True``, if the leaves' ``.grad`` hold this graph's gradients. A leaf is drawn
    with ∂output/∂leaf from the graph, never a ``.grad`` summed over earlier graphs."""
    if any(getattr(node, "saved", None) is FREED for node in order):
        return True
    return all(id(t) in grads and np.shape(grads[id(t)]) == t.grad.shape
               and np.allclose(grads[id(t)], t.grad._data) for t in leaves)


def _caption(d, f, grads) -> str:
    """The legend of a gradient's graph: what its output is, its parts, its colours."""
    L = d.L
    by = f"{L}'s backward pass" if d.function is not None else "a backward pass"
    rows = [f"{d.what(f)}: the graph that {by} recorded (create_graph=True)."]
    if d.forward:
        rows.append(f"Grey: {L}'s forward pass. White: its backward pass."
                    + (f" ∂{L}/∂h: a gradient of {L} it holds." if d.grads else ""))
    second = ordinal(d.order + 1)
    rows.append(f"Green: values. Red: ∂{f}/∂· ({second} derivatives)"
                + ("" if grads else f", after {f}.backward()") + ".")
    text = "<BR/>".join(_esc(r) for r in rows)
    return (f'  graph [label=<<FONT POINT-SIZE="10" COLOR="#424242">{text}</FONT>>, '
            'labelloc=b, fontname="Helvetica"];')


def _leaves_and_consumers(forward, graph):
    """The leaves in order of first use; node or id(leaf) -> the nodes that use it; id(leaf) ->
    (node, input index) of its first use."""
    leaves, first, consumers = [], {}, {}
    for node in forward:
        for i, t in enumerate(graph.inputs(node)):
            if not hasattr(t, "grad_fn"):
                continue
            key = graph.key(t)
            consumers.setdefault(key, []).append(node)
            if t.grad_fn is None and key not in first:
                first[key] = node, i
                leaves.append(t)
    return leaves, consumers, first


def _modules(forward, names, consumers, graph) -> dict:
    """module path -> the ops between its parameters and its output: those downstream of a
    parameter of the module and upstream of (or equal to) an op that uses one directly."""
    params = {}
    for tid, name in names.items():
        prefix = name.rpartition(".")[0]
        if prefix:
            params.setdefault(prefix, []).append(tid)
    groups, taken = {}, set()
    for prefix, tids in params.items():
        direct = {n for tid in tids for n in consumers.get(tid, [])}
        if not direct:
            continue
        down, stack = set(direct), list(direct)
        while stack:
            for c in consumers.get(stack.pop(), []):
                if c not in down:
                    down.add(c)
                    stack.append(c)
        up, stack = set(direct), list(direct)
        while stack:
            for t in graph.inputs(stack.pop()):
                fn = getattr(t, "grad_fn", None)
                if fn is not None and fn not in up:
                    up.add(fn)
                    stack.append(fn)
        nodes = (down & up) - taken
        # the fused LSTM op stacks h and c: the getitems that split them are the module's too
        nodes |= {c for n in nodes if N.op_of(n) == "lstm" for c in consumers.get(n, [])
                  if N.op_of(c) == "getitem"} - taken
        if nodes:
            groups[prefix] = nodes
            taken |= nodes
    return groups


def _uses(forward, graph) -> dict:
    """node or id(leaf) -> [(node, input index)]: where each tensor is used, in forward order."""
    uses = {}
    for node in forward:
        for i, t in enumerate(graph.inputs(node)):
            if hasattr(t, "grad_fn"):
                uses.setdefault(graph.key(t), []).append((node, i))
    return uses


def _calls(groups, given, uses, unrolled) -> dict:
    """box key -> (module path, "step k of n" or None, nodes): a module's ops as one box, or,
    when each of its parameters is used the same n > 1 times (a cell called in a loop, a module
    applied twice), as one box per call: the k-th use of each parameter and what follows it
    until the next call. A loop's calls are its time steps."""
    boxes = {}
    for prefix, nodes in groups.items():
        mine = [[u for u in uses.get(tid, []) if u[0] in nodes] for tid, name in given.items()
                if name.rpartition(".")[0] == prefix]
        mine = [unrolled.order(u) for u in mine if u]
        n = len(mine[0]) if mine else 0
        direct = [{u[k][0] for u in mine} for k in range(n)]
        if (n < 2 or any(len(u) != n or len({node for node, _ in u}) != n for u in mine)
                or sum(map(len, direct)) != len(set().union(*direct))):
            boxes[prefix] = prefix, None, nodes
            continue
        word = "step" if any(unrolled.steps(u) for u in mine) else "call"
        parts = [set(d) for d in direct]
        for node in nodes - set().union(*direct):  # with the latest call it is computed from
            k = max(k for k, d in enumerate(direct) if any(node in unrolled.below(x) for x in d))
            parts[k].add(node)
        for k, part in enumerate(parts, 1):
            boxes[f"{prefix}#{k}"] = prefix, f"{word} {k} of {n}", part
    return boxes


def _step_label(unrolled, uses, use, trace, precision) -> str | None:
    """The label of an arrow from a loop's weight to its use at one time step: the step, and its
    share of the weight's gradient (all of it if it has a few entries, else its norm)."""
    found = unrolled.steps(uses) and unrolled.step(uses, use)
    if not found:
        return None
    text = f"step {found[0]}"
    share = trace.edges.get(use) if trace is not None else None
    if share is not None:
        g = np.asarray(share[1])
        text += (f": ∇ {N.array(g, precision)}" if g.size <= 4
                 else f": ‖∇‖ {N.number(np.sqrt(np.sum(g.astype(np.float64) ** 2)), 3)}")
    color = GRAD_COLOR if share is not None else "#616161"
    return f'<FONT POINT-SIZE="9" COLOR="{color}">{_esc(text)}</FONT>'


def _shape_of(t) -> str:
    return N.shape(t.shape) if t.ndim else ""


def _node(nid, label, shape, style, fill, root=False) -> str:
    extra = ", peripheries=2" if root else ""
    return (f'  {nid} [label=<{label}>, shape={shape}, style="{style}", fillcolor="{fill}", '
            f'color="#9e9e9e"{extra}];')


def _legend(f, grads, scales) -> str:
    """What the colours say, told in words too: values, gradients (marked ∇), heat maps."""
    parts = [f"value: green; ∇: the gradient ∂{f}/∂(node), red" if grads else "values: green"]
    if any(scales):
        tops = ", ".join(f"{what} {N.number(m, 3)}" for what, m in
                         zip(("values", "gradients"), scales) if m)
        parts.append(f"heat maps: one log scale for the drawing, full colour at the largest "
                     f"|entry| ({tops}), white at a millionth of it; blue: negative")
    text = _esc("    ".join(parts))
    return f'  labelloc="b"; fontsize=10; fontcolor="#424242"; label=<{text}>;'


def _label(title, subtitle, value, grad, precision, scales=(0.0, 0.0)) -> str:
    rows = [f"<TR><TD><B>{_esc(title)}</B></TD></TR>"]
    if subtitle:
        small = f'<FONT POINT-SIZE="9" COLOR="#616161">{_esc(subtitle)}</FONT>'
        rows.append(f"<TR><TD>{small}</TD></TR>")
    if value is UNKNOWN:
        rows.append('<TR><TD><FONT POINT-SIZE="9" COLOR="#757575"><I>changed in place '
                    'since</I></FONT></TD></TR>')
        value = None
    for a, color, scale, mark in ((value, VALUE_COLOR, scales[0], ""),
                                  (grad, GRAD_COLOR, scales[1], "∇ ")):
        if a is not None:
            rows += _show(np.asarray(a), color, precision, scale, mark)
    table = '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
    return table + "".join(rows) + "</TABLE>"


def _show(a, color, precision, scale=0.0, mark=""):
    """A scalar or a few numbers as text (a matrix row by row); a large tensor as min/mean/max
    and a heat map in its shape, on the drawing's log ``scale``; ``mark`` (∇) starts a
    gradient, so that it is told from a value without its colour."""
    font = f'<FONT COLOR="{color}">'
    if _as_text(a):
        texts = ([N.array(r, precision) for r in a] if a.ndim == 2 else
                 [N.array(r, precision) for r in a.reshape(-1, a.shape[-1])] if a.ndim > 2 else
                 [N.array(a, precision)])
        texts = [mark + texts[0]] + [" " * len(mark) + t for t in texts[1:]]
        return [f"<TR><TD>{font}{_esc(s)}</FONT></TD></TR>" for s in texts]
    a = a.astype(np.float64)
    largest = np.abs(a).max()
    stat = [0.0 if abs(v) <= 1e-12 * largest else v for v in (a.min(), a.mean(), a.max())]
    stats = mark + "min {}  mean {}  max {}".format(*(N.number(v, 3) for v in stat))
    return [f'<TR><TD>{font}<FONT POINT-SIZE="9">{_esc(stats)}</FONT></FONT></TD></TR>',
            f"<TR><TD>{_heatmap(a, color, scale or scale_of(a))}</TD></TR>"]


def _as_text(a) -> bool:
    """Is ``a`` written as numbers (up to 25, in rows short enough to read), not a heat map?"""
    return a.size <= 25 and (a.ndim == 0 or a.shape[-1] <= 6)


def scale_of(a) -> float:
    return float(np.abs(a).max()) or 1.0


DECADES = 6  # a heat map's log scale: full colour at the drawing's largest |entry|, white 1e-6 below


def _heatmap(a, color, scale, most=16) -> str:
    """The first matrix of ``a`` (a vector as one row; the first image and channel of a batch)
    as a grid of its shape, averaged down to at most ``most`` cells a side, each cell shaded on
    a log scale of |entry| against ``scale``."""
    m = a[(0,) * (a.ndim - 2)] if a.ndim > 2 else a.reshape(1, -1) if a.ndim < 2 else a
    r_edges = np.linspace(0, m.shape[0], min(most, m.shape[0]) + 1).astype(int)
    c_edges = np.linspace(0, m.shape[1], min(most, m.shape[1]) + 1).astype(int)
    grid = np.array([[m[r0:r1, c0:c1].mean() for c0, c1 in zip(c_edges, c_edges[1:])]
                     for r0, r1 in zip(r_edges, r_edges[1:])])
    side = int(np.clip(150 // max(grid.shape), 6, 14))  # square cells, about 150 px across
    cells = "".join("<TR>" + "".join(
        f'<TD BGCOLOR="{_shade(v, scale, color)}" WIDTH="{side}" HEIGHT="{side}" '
        f'FIXEDSIZE="TRUE"></TD>' for v in row) + "</TR>" for row in grid)
    rows, cols = grid.shape
    return (f'<TABLE BORDER="1" COLOR="#bdbdbd" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0" '
            f'FIXEDSIZE="TRUE" WIDTH="{cols * side + 2}" HEIGHT="{rows * side + 2}">{cells}</TABLE>')


def _shade(v, scale, color) -> str:
    """White for |v| at or below scale·1e-6, ``color`` at ``scale`` (blue where v < 0), log in
    between: 1e-10 and 0.1 look different, in one drawing."""
    base = NEGATIVE_COLOR if v < 0 else color
    level = 0.0 if v == 0 else np.clip(1 + np.log10(abs(v) / scale) / DECADES, 0.0, 1.0)
    rgb = [int(base[i:i + 2], 16) for i in (1, 3, 5)]
    mix = [round(255 + (c - 255) * level) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mix)


def _esc(s) -> str:
    return html.escape(str(s), quote=False)
