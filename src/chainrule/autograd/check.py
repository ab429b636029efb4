"""``check_graph``: check each op's backward against finite differences, and name the one that
is wrong.

``gradcheck`` says that a gradient is wrong; this says where. Every node is checked on its own, at
the values it saw in the forward pass, in float64, one partial derivative at a time: for output
element j and element k of an input, ∂y[j]/∂x[k] once from the op's backward seeded with the unit
vector e_j, and once as the central difference (y[j](x + eps e_k) - y[j](x - eps e_k)) / 2eps.
These are the entries of the op's Jacobian, the same numbers ``gradcheck`` compares for a graph
of that one op.

An op whose output and inputs have at most ``max_elements`` elements has every entry checked.
A larger one has a sample checked: a few random rows (output elements) and columns (input
elements); the entry a cheap search finds furthest off (halving the rows, then the columns, and
keeping the half whose projected disagreement is larger); and, for each of those rows and columns,
the column and row where it is largest. Entries where the op is not differentiable (``relu`` at 0,
ties of ``max``) are skipped: there the one-sided differences disagree with each other.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from .engine import unbroadcast
from .gradcheck import GradcheckError
from .replay import Graph, ReplayError, gradients, replay, rerun


@dataclass
class OpMismatch:
    """One op whose backward disagrees with finite differences, and its worst Jacobian entry."""

    node: object            # the graph node (``tensor.grad_fn``)
    position: int           # 1 for the first op the forward pass ran
    total: int              # number of ops in the graph
    input_index: int        # which input's gradient is wrong
    input_shapes: list      # shapes of all the op's inputs (None for numbers)
    output_shape: tuple
    where: object = None    # "output element (1,) w.r.t. element (1,) of input 0"
    analytic: float = np.nan  # ∂y[j]/∂x[k] from the op's backward
    numeric: float = np.nan   # ∂y[j]/∂x[k] from central differences
    max_error: float = np.nan  # |analytic - numeric|: the largest among the entries checked
    detail: str = ""        # for a backward that failed outright
    output_element: tuple = None  # j, an index into the output
    input_element: tuple = None   # k, an index into input ``input_index``
    entries_checked: int = 0      # entries of that input's Jacobian compared (kinks not counted)
    entries_wrong: int = 0        # of those, how many disagree
    entries_kinks: int = 0        # entries skipped at kinks
    jacobian_shape: tuple = (0, 0)  # (output elements, input elements)
    symbols: tuple = ("y", "x")   # the output's and the input's names in the report

    def __str__(self) -> str:
        node = self.node
        shapes = ", ".join("number" if s is None else str(tuple(s)) for s in self.input_shapes)
        lines = [f"check_graph: the backward of {node.name()} (op {type(node).op_name()!r}, op "
                 f"{self.position} of {self.total} in forward order) is wrong",
                 f"  inputs: {shapes} -> output {tuple(self.output_shape)}"]
        if self.detail:
            lines.append(f"  {self.detail}")
        else:
            y, x = self.symbols
            lines.append(f"  ∂{y}{_index(self.output_element)}/∂{x}{_index(self.input_element)} "
                         f"({self.where}): backward gives {self.analytic:.6g}, finite differences "
                         f"{self.numeric:.6g}")
            lines.append(f"  {self.coverage()}")
        stack = getattr(node, "_stack", None)
        if stack:
            from .anomaly import _where
            lines.append("  the op was created at (innermost last):\n" + _where(stack))
        return "\n".join(lines)

    def coverage(self) -> str:
        """How many entries of the Jacobian were checked, and how many disagree."""
        (m, n), y, x = self.jacobian_shape, *self.symbols
        total, kinks, wrong = m * n, self.entries_kinks, self.entries_wrong
        size = f"{m} output × {n} input elements"
        verdict = f"{wrong} disagree{'s' if wrong == 1 else ''}"
        if self.entries_checked == total:
            return f"checked all {total} entries of ∂{y}/∂{x} ({size}): {verdict}"
        notes = [size]
        if self.entries_checked + kinks < total:
            notes.append("a sample, with the entries that look worst")
        if kinks:
            notes.append(f"{kinks} skipped at kinks")
        return (f"checked {self.entries_checked} of the {total} entries of ∂{y}/∂{x} "
                f"({'; '.join(notes)}): {verdict}")


class GraphCheckReport(list):
    """The ops whose backward disagrees, in forward order: empty (so falsy) when all agree."""

    def __init__(self):
        super().__init__()
        self.checked = 0   # ops checked
        self.entries = 0   # Jacobian entries compared, over all ops
        self.skipped = []  # (node, why)

    def __str__(self) -> str:
        note = (f"; {len(self.skipped)} not checked: "
                + "; ".join(why for _, why in self.skipped[:3])) if self.skipped else ""
        if not self:
            return (f"check_graph: all {self.checked} ops agree with finite differences "
                    f"({self.entries} Jacobian entries checked){note}")
        more = f"\n({len(self) - 1} more ops disagree)" if len(self) > 1 else ""
        return str(self[0]) + more + (f"\n{note[2:]}" if note else "")

    def __repr__(self) -> str:
        return f"<GraphCheckReport: {len(self)} of {self.checked} ops disagree>"


def check_graph(output, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                raise_exception: bool = False, max_elements: int = 64,
                seed: int = 0) -> GraphCheckReport:
    """Check the backward of every op that produced ``output`` against central differences,
    partial derivative by partial derivative (entries ∂y[j]/∂x[k] of each op's Jacobian).

    Returns a ``GraphCheckReport``: a list of ``OpMismatch`` in forward order, empty when every op
    agrees; ``str(report)`` names the first wrong op, its inputs' shapes, its worst entry both
    ways and how many entries were checked. With ``raise_exception=True`` a disagreement raises
    ``GradcheckError`` instead. An op whose output or input has more than ``max_elements``
    elements has a sample of its entries checked (``seed`` picks it), not all.

    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> report = cr.autograd.check_graph((x.exp() * x).sum())
    >>> bool(report)
    False
    """
    graph = Graph(output)
    order = list(reversed(graph.order))
    rng = np.random.default_rng(seed)
    report = GraphCheckReport()
    for position, node in enumerate(order, 1):
        try:
            problem, entries = _check_node(node, graph, eps, atol, rtol, max_elements, rng)
        except ReplayError as err:
            report.skipped.append((node, str(err)))
            continue
        report.checked += 1
        report.entries += entries
        if problem is not None:
            problem.position, problem.total = position, len(order)
            report.append(problem)
    if report and raise_exception:
        raise GradcheckError(str(report))
    return report


class _Broken(Exception):
    """The backward failed outright (raised, or returned the wrong number or shape)."""


def _check_node(node, graph, eps, atol, rtol, max_elements, rng):
    """(the worst disagreeing entry as an ``OpMismatch``, or None; the number of entries checked).
    The node runs on its inputs as it saw them; raises ``ReplayError`` if it cannot."""
    values, ctx, y = rerun(graph, node, np.float64)
    out, wanted = graph.made[node], graph.wanted(node)
    shapes = [None if not hasattr(a, "shape") else np.shape(a) for a in values]
    y_name, x_names = _symbols(node)

    def vjp(grad_output):  # the op's backward: one gradient per input, of its shape (or None)
        try:
            grads = gradients(node, ctx, grad_output)
        except Exception as err:  # a broken backward is a finding, not a crash
            raise _Broken(f"its backward raised {type(err).__name__}: {err}") from None
        if len(grads) != len(values):
            raise _Broken(f"its backward returned {len(grads)} gradients for {len(values)} inputs")
        result = []
        for i, g in enumerate(grads):
            if not wanted[i]:
                result.append(None)
                continue
            shape = np.shape(values[i])
            g = np.zeros(shape) if g is None else np.asarray(g, np.float64)
            if g.shape != shape:
                try:
                    g = unbroadcast(g, shape, node.name())
                except RuntimeError:
                    raise _Broken(f"its backward returned a gradient of shape {g.shape} for "
                                  f"input {i} of shape {shape}") from None
            result.append(g)
        return result

    rows = {}  # j -> the backward seeded with e_j: row j of each input's Jacobian, flattened

    def row(j):
        if j not in rows:
            seed = np.zeros(np.shape(y))
            seed.flat[j] = 1
            rows[j] = [None if g is None else g.ravel() for g in vjp(seed)]
        return rows[j]

    entries = 0
    try:
        if np.size(y):
            row(0)  # a backward that fails, fails here, before any input is checked
        for i in range(len(values)):
            if not wanted[i] or values[i].size == 0 or np.size(y) == 0:
                continue
            found = _check_input(i, values, y, row, vjp, node, out, eps, atol, rtol,
                                 max_elements, rng)
            entries += found["entries_checked"]
            if found["entries_wrong"]:
                j, k = found.pop("j"), found.pop("k")
                j, k = np.unravel_index(j, np.shape(y)), np.unravel_index(k, shapes[i])
                j, k = tuple(int(a) for a in j), tuple(int(a) for a in k)
                return OpMismatch(node, 0, 0, i, shapes, np.shape(y),
                                  where=f"output element {j} w.r.t. element {k} of input {i}",
                                  output_element=j, input_element=k,
                                  symbols=(y_name, x_names[i]), **found), entries
    except _Broken as err:
        return OpMismatch(node, 0, 0, -1, shapes, np.shape(y), detail=str(err)), entries
    return None, entries


def _check_input(i, values, y, row, vjp, node, out, eps, atol, rtol, max_elements, rng):
    """Compare entries of input i's Jacobian both ways; a dict of OpMismatch's fields for the
    worst entry (``j``, ``k`` flat indices) and the counts."""
    x, y_shape = values[i], np.shape(y)
    center = np.asarray(y, np.float64).ravel()
    m, n = center.size, x.size

    def forward(moved):  # the op's output, flattened, with input i replaced
        args = list(values)
        args[i] = moved
        return np.asarray(replay(node, args, out, np.float64)[1], np.float64).ravel()

    columns = {}  # k -> (column k of the Jacobian by central differences, kinks along it)

    def column(k):
        if k not in columns:
            step = np.zeros(x.shape)
            step.flat[k] = eps
            plus, minus = forward(x + step), forward(x - step)
            numeric = (plus - minus) / (2 * eps)
            tol = atol + rtol * np.abs(numeric)
            columns[k] = numeric, np.abs((plus - center) - (center - minus)) / eps > 10 * tol
        return columns[k]

    js = set(range(m)) if m <= max_elements else None
    ks = set(range(n)) if n <= max_elements else None
    if js is None or ks is None:  # a sample, with the entries that look worst
        size = max(1, max_elements // 8)
        js = js or set(rng.choice(m, size, replace=False).tolist())
        ks = ks or set(rng.choice(n, min(size, n), replace=False).tolist())
        j, k = _search(i, x, y_shape, row, vjp, forward, eps, rng)
        js.add(j)
        ks.add(k)
        largest_k = {int(np.argmax(np.abs(row(j)[i]))) for j in js}
        largest_j = {int(np.argmax(np.abs(column(k)[0]))) for k in ks}
        js, ks = js | largest_j, ks | largest_k
    js, ks = sorted(js), sorted(ks)
    analytic = np.stack([row(j)[i][ks] for j in js])
    numeric = np.stack([column(k)[0][js] for k in ks], axis=1)
    kink = np.stack([column(k)[1][js] for k in ks], axis=1)
    bad = ~np.isclose(analytic, numeric, rtol=rtol, atol=atol) & ~kink
    found = dict(entries_checked=int((~kink).sum()), entries_wrong=int(bad.sum()),
                 entries_kinks=int(kink.sum()), jacobian_shape=(m, n))
    if bad.any():
        error = np.abs(analytic - numeric)
        error = np.where(np.isnan(error), np.inf, error)
        r, c = np.unravel_index(np.argmax(np.where(bad, error, -1.0)), bad.shape)
        found.update(j=js[r], k=ks[c], analytic=float(analytic[r, c]),
                     numeric=float(numeric[r, c]), max_error=float(error[r, c]))
    return found


def _search(i, x, y_shape, row, vjp, forward, eps, rng):
    """A cheap guess at the entry (j, k) of input i's Jacobian where backward and finite
    differences disagree most: with random v and u, halve the output elements keeping the half S
    where Σ_{j∈S} v_j (J u)_j differs more between the two (one backward per step), then, in row
    j, halve the input elements keeping the half S where Σ_{k∈S} J[j, k] u_k does (two forwards)."""
    m, n = int(np.prod(y_shape)), x.size
    u = rng.standard_normal(n)
    v = rng.standard_normal(m)

    def jvp(w):  # J w by central differences
        w = w.reshape(x.shape)
        return (forward(x + eps * w) - forward(x - eps * w)) / (2 * eps)

    ju = jvp(u)

    def rows_off(S):
        seed = np.zeros(m)
        seed[S] = v[S]
        return float(vjp(seed.reshape(y_shape))[i].ravel() @ u - v[S] @ ju[S])

    j = _halve(m, rows_off)
    a = row(j)[i]

    def cols_off(S):
        w = np.zeros(n)
        w[S] = u[S]
        return float(a[S] @ u[S] - jvp(w)[j])

    return j, _halve(n, cols_off)


def _halve(size, off):
    """Bisection over range(size): keep the half whose disagreement ``off(indices)`` (linear in
    the set) is larger in magnitude, until one index is left."""
    S = np.arange(size)
    if size == 1:
        return 0
    total = off(S)
    while len(S) > 1:
        first, rest = S[:len(S) // 2], S[len(S) // 2:]
        d = off(first)
        S, total = (first, d) if abs(d) >= abs(total - d) else (rest, total - d)
    return int(S[0])


def _symbols(node):
    """Names for the report: ``y`` for the output, the forward's own parameter names for its
    inputs (``x`` in ``forward(ctx, x)``), ``x0``, ``x1``... where it takes ``*args``."""
    params = list(inspect.signature(type(node).forward).parameters.values())[1:]  # after ctx
    names = []
    for i in range(len(node.inputs)):
        p = params[i] if i < len(params) else None
        names.append(p.name if p is not None and p.kind in (p.POSITIONAL_ONLY,
                                                            p.POSITIONAL_OR_KEYWORD) else f"x{i}")
    return ("out" if "y" in names else "y"), names


def _index(idx) -> str:
    """``[1, 2]`` for the index (1, 2); nothing for a 0-d tensor's ()."""
    return f"[{', '.join(str(a) for a in idx)}]" if idx else ""
