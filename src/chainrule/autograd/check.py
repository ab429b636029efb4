"""``check_graph``: check each op's backward against finite differences, and name the one that
is wrong.

``gradcheck`` says that a gradient is wrong; this says where. Every node is checked on its own, at
the values it saw in the forward pass, in float64: its forward is run again with one input nudged
by ±eps, and ``v · (f(x + eps u) - f(x - eps u)) / 2eps`` is compared with ``u · backward(v)``,
for a random ``v`` and ``u`` each element of the input (or, for a large input, a few random
directions). Points where the op is not differentiable (``relu`` at 0, ties of ``max``) are
skipped: there the one-sided differences disagree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import unbroadcast
from .gradcheck import GradcheckError
from .replay import ReplayError, arrays, outputs, replay, walk, wants_grad


@dataclass
class OpMismatch:
    """One op whose backward disagrees with finite differences."""

    node: object            # the graph node (``tensor.grad_fn``)
    position: int           # 1 for the first op the forward pass ran
    total: int              # number of ops in the graph
    input_index: int        # which input's gradient is wrong
    input_shapes: list      # shapes of all the op's inputs (None for numbers)
    output_shape: tuple
    where: object = None    # element index, or "direction k" for a large input
    analytic: float = np.nan
    numeric: float = np.nan
    max_error: float = np.nan
    detail: str = ""        # for a backward that failed outright

    def __str__(self) -> str:
        node = self.node
        shapes = ", ".join("number" if s is None else str(tuple(s)) for s in self.input_shapes)
        lines = [f"check_graph: the backward of {node.name()} (op {type(node).op_name()!r}, op "
                 f"{self.position} of {self.total} in forward order) is wrong",
                 f"  inputs: {shapes} -> output {tuple(self.output_shape)}"]
        if self.detail:
            lines.append(f"  {self.detail}")
        else:
            lines.append(f"  gradient of input {self.input_index} at {self.where}: backward gives "
                         f"{self.analytic:.6g}, finite differences {self.numeric:.6g} "
                         f"(largest difference {self.max_error:.3g})")
        stack = getattr(node, "_stack", None)
        if stack:
            from .anomaly import _where
            lines.append("  the op was created at (innermost last):\n" + _where(stack))
        return "\n".join(lines)


class GraphCheckReport(list):
    """The ops whose backward disagrees, in forward order: empty (so falsy) when all agree."""

    def __init__(self):
        super().__init__()
        self.checked = 0
        self.skipped = []  # (node, why)

    def __str__(self) -> str:
        note = (f"; {len(self.skipped)} not checked: "
                + "; ".join(why for _, why in self.skipped[:3])) if self.skipped else ""
        if not self:
            return f"check_graph: all {self.checked} ops agree with finite differences{note}"
        more = f"\n({len(self) - 1} more ops disagree)" if len(self) > 1 else ""
        return str(self[0]) + more + (f"\n{note[2:]}" if note else "")

    def __repr__(self) -> str:
        return f"<GraphCheckReport: {len(self)} of {self.checked} ops disagree>"


def check_graph(output, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                raise_exception: bool = False, max_elements: int = 64,
                seed: int = 0) -> GraphCheckReport:
    """Check the backward of every op that produced ``output`` against central differences.

    Returns a ``GraphCheckReport``: a list of ``OpMismatch`` in forward order, empty when every op
    agrees; ``str(report)`` names the first wrong op, its inputs' shapes and by how much it is off.
    With ``raise_exception=True`` a disagreement raises ``GradcheckError`` instead.

    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> report = cr.autograd.check_graph((x.exp() * x).sum())
    >>> bool(report)
    False
    """
    order = list(reversed(walk(output)))
    made = outputs(order, output)
    rng = np.random.default_rng(seed)
    report = GraphCheckReport()
    for position, node in enumerate(order, 1):
        try:
            problem = _check_node(node, made.get(node), eps, atol, rtol, max_elements, rng)
        except ReplayError as err:
            report.skipped.append((node, str(err)))
            continue
        report.checked += 1
        if problem is not None:
            problem.position, problem.total = position, len(order)
            report.append(problem)
    if report and raise_exception:
        raise GradcheckError(str(report))
    return report


def _check_node(node, out, eps, atol, rtol, max_elements, rng):
    values = arrays(node, np.float64)
    ctx, y = replay(node, values, out, np.float64, verify=True)
    shapes = [None if not hasattr(a, "shape") else np.shape(a) for a in values]

    def mismatch(i, **kw):
        return OpMismatch(node, 0, 0, i, shapes, y.shape, **kw)

    v = np.asarray(rng.standard_normal(y.shape))
    try:
        grads = type(node).backward(ctx, v)
    except Exception as err:  # a broken backward is a finding, not a crash
        return mismatch(-1, detail=f"its backward raised {type(err).__name__}: {err}")
    grads = grads if type(grads) is tuple else (grads,)
    if len(grads) != len(values):
        return mismatch(-1, detail=f"its backward returned {len(grads)} gradients for "
                                   f"{len(values)} inputs")

    def f(i, x):  # v · forward(..., x at position i, ...)
        moved = list(values)
        moved[i] = x
        return float(np.sum(v * replay(node, moved, out, np.float64)[1]))

    center = float(np.sum(v * y))
    for i, (t, g) in enumerate(zip(node.inputs, grads)):
        if not wants_grad(t):
            continue
        x = values[i]
        if g is None:
            g = np.zeros_like(x)
        g = np.asarray(g, np.float64)
        if g.shape != x.shape:
            try:
                g = unbroadcast(g, x.shape, node.name())
            except RuntimeError:
                return mismatch(i, detail=f"its backward returned a gradient of shape {g.shape} "
                                          f"for input {i} of shape {x.shape}")
        worst = None
        for where, u in _directions(x, max_elements, rng):
            plus, minus = f(i, x + eps * u), f(i, x - eps * u)
            numeric = (plus - minus) / (2 * eps)
            tol = atol + rtol * abs(numeric)
            if abs((plus - center) - (center - minus)) / eps > 10 * tol:
                continue  # a kink: the derivative does not exist here
            analytic = float(np.sum(g * u))
            err = abs(analytic - numeric)
            if err > tol and (worst is None or err > worst.max_error):
                worst = mismatch(i, where=where, analytic=analytic, numeric=numeric, max_error=err)
        if worst is not None:
            return worst
    return None


def _directions(x, max_elements, rng):
    """Unit vectors, one per element of a small ``x``; three random directions for a large one."""
    if x.size <= max_elements:
        for k in range(x.size):
            u = np.zeros(x.shape)
            u.flat[k] = 1
            where = np.unravel_index(k, x.shape) if x.ndim else ()
            yield f"element {tuple(int(w) for w in where)}", u
    else:
        for k in range(3):
            yield f"random direction {k + 1}", rng.standard_normal(x.shape)
